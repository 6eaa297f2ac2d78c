// zkml's browser verifier: runs the model's own verifier contract in an in-browser EVM (@ethereumjs/evm,
// Cancun rules, BN254 precompiles from @noble/curves) and decodes the public outputs with the numbers that
// `prove-model page` derived from the authenticated verifying key (the <script id="zkml-model"> block).
// It reads a proof from a dropped file, the file picker or `#proof=RELATIVE_URL`, and sends nothing anywhere.
//
// Built into one classic script (verify.js) by esbuild at `prove-model page` time: a classic script, not a
// module, so the page also works when opened from file://.

import { createEVM } from '@ethereumjs/evm'
import { Common, Hardfork, Mainnet } from '@ethereumjs/common'

const R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n // BN254 scalar field
const GAS = 30_000_000n

// ---- helpers ----------------------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id)

function hexToBytes(hex) {
  const h = hex.startsWith('0x') ? hex.slice(2) : hex
  const out = new Uint8Array(h.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.substr(2 * i, 2), 16)
  return out
}

function bytesToHex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
}

function leHexToBigInt(h) {
  // ezkl's instance encoding: 32 bytes, little-endian
  let v = 0n
  for (let i = h.length - 2; i >= 0; i -= 2) v = (v << 8n) | BigInt(parseInt(h.substr(i, 2), 16))
  return v
}

const word = (v) => {
  const out = new Uint8Array(32)
  let x = BigInt(v)
  for (let i = 31; i >= 0; i--) {
    out[i] = Number(x & 0xffn)
    x >>= 8n
  }
  return out
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let pos = 0
  for (const p of parts) {
    out.set(p, pos)
    pos += p.length
  }
  return out
}

// keccak256(signature)[:4]
const SELECTORS = {
  'verifyProof(bytes,uint256[])': '1e8e1e13',
  'verifyProof(bytes,uint256[],bytes32[])': '3409fc9f',
  'registerVka(bytes32[])': 'dc8b4094',
}
const selector = (signature) => hexToBytes(SELECTORS[signature])

// ABI encoding of (bytes, uint256[] [, bytes32[]]): the heads are offsets, the tails length-prefixed
function encodeArgs(args) {
  const tails = args.map(([type, value]) => {
    if (type === 'bytes') {
      const padded = new Uint8Array(Math.ceil(value.length / 32) * 32)
      padded.set(value)
      return concat([word(value.length), padded])
    }
    return concat([word(value.length), ...value.map((v) => (v instanceof Uint8Array ? v : word(v)))])
  })
  let offset = 32 * args.length
  const heads = tails.map((t) => {
    const h = word(offset)
    offset += t.length
    return h
  })
  return concat([...heads, ...tails])
}

// canonical JSON (sorted keys) for comparing the proof file's claims with the key's
function canon(v) {
  if (Array.isArray(v)) return '[' + v.map(canon).join(',') + ']'
  if (v && typeof v === 'object') return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canon(v[k])).join(',') + '}'
  return JSON.stringify(v)
}

class NotAProof extends Error {}

// ---- the proof file ---------------------------------------------------------------------------------------

// the same rules as zkml.Proof.from_json: "proof" as a byte list or hex, "instances" as lists of 32-byte hex;
// a split proof is {"segments": [one such object per segment, in order], "zkml": {...}}
function parseProof(text) {
  let raw
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new NotAProof(`not a proof file: it is not JSON (${err.message})`)
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new NotAProof('not a proof file: expected a JSON object')
  if ('segments' in raw) {
    if (!Array.isArray(raw.segments) || !raw.segments.length) throw new NotAProof('not a valid split proof: "segments" must be a non-empty list')
    const meta = raw.zkml == null ? {} : raw.zkml
    if (typeof meta !== 'object' || Array.isArray(meta)) throw new NotAProof('not a proof file: its "zkml" section is not an object')
    const parts = raw.segments.map((seg, i) => {
      try {
        return parseUnit(seg)
      } catch (err) {
        throw new NotAProof(`segment ${i}: ${err.message}`)
      }
    })
    return { parts, meta, split: true }
  }
  const unit = parseUnit(raw)
  return { parts: [unit], meta: unit.meta, split: false }
}

function parseUnit(raw) {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new NotAProof('not a proof file: expected a JSON object')
  if (!('proof' in raw) || !('instances' in raw)) throw new NotAProof('not a proof file: it has no "proof" and "instances"')
  let proof
  if (Array.isArray(raw.proof)) {
    if (!raw.proof.every((b) => Number.isInteger(b) && b >= 0 && b < 256)) throw new NotAProof('not a proof file: "proof" is not a list of bytes')
    proof = Uint8Array.from(raw.proof)
  } else if (typeof raw.proof === 'string' && /^(0x)?([0-9a-fA-F]{2})*$/.test(raw.proof)) {
    proof = hexToBytes(raw.proof)
  } else {
    throw new NotAProof('not a proof file: "proof" is neither a byte list nor hex')
  }
  if (proof.length === 0) throw new NotAProof('not a proof file: the proof is empty')
  if (!Array.isArray(raw.instances) || !raw.instances.every((c) => Array.isArray(c) && c.every((h) => typeof h === 'string' && /^[0-9a-fA-F]{64}$/.test(h)))) {
    throw new NotAProof('not a proof file: "instances" is not a list of lists of 32-byte hex field elements')
  }
  const meta = raw.zkml == null ? {} : raw.zkml
  if (typeof meta !== 'object' || Array.isArray(meta)) throw new NotAProof('not a proof file: its "zkml" section is not an object')
  return { proof, instances: raw.instances.flat().map((h) => h.toLowerCase()), meta }
}

// ---- decoding with the key's numbers (never the proof file's) ---------------------------------------------

function signed(h) {
  const v = leHexToBigInt(h)
  return v > R / 2n ? v - R : v
}

function reshape(flat, shape) {
  if (shape.length <= 1) return flat
  const step = flat.length / shape[0]
  return Array.from({ length: shape[0] }, (_, i) => reshape(flat.slice(i * step, (i + 1) * step), shape.slice(1)))
}

function decodeUnit(unit, instances) {
  const { layout, visibility } = unit.decode
  const start = { input: 0, params: layout.input, output: layout.input + layout.params }
  const part = (name) => instances.slice(start[name], start[name] + layout[name])
  const values = (name, specs) => {
    if (visibility[name] !== 'public') return []
    const vals = part(name)
    let pos = 0
    return specs.map((spec) => {
      const size = spec.shape.reduce((a, b) => a * b, 1)
      const chunk = vals.slice(pos, pos + size).map((h) => Number(signed(h)) / 2 ** spec.scale)
      pos += size
      return { name: spec.name, shape: spec.shape, values: reshape(chunk, spec.shape) }
    })
  }
  const hashes = {}
  for (const k of ['input', 'params', 'output']) {
    if (visibility[k] === 'hashed') hashes[k] = part(k).map((h) => '0x' + bytesToHex(hexToBytes(h).reverse()))
  }
  return { outputs: values('output', unit.decode.outputs), public_inputs: values('input', unit.decode.inputs), hashes }
}

// the model's input is the first unit's, its output the last unit's (as zkml's Proof.decoded)
function decode(model, parts) {
  const first = decodeUnit(model.units[0], parts[0].instances)
  const lastUnit = model.units.length - 1
  const last = decodeUnit(model.units[lastUnit], parts[lastUnit].instances)
  const hashes = {}
  if (first.hashes.input) hashes.input = first.hashes.input
  if (last.hashes.output) hashes.output = last.hashes.output
  return { outputs: last.outputs, public_inputs: first.public_inputs, hashes }
}

// the committed parts' points, read from the proof bytes themselves by the key's counts (zkml.proof.read_commitments)
const COMMIT_ORDER = ['input', 'params', 'output']
function readCommitments(unit, proof) {
  const out = {}
  let pos = 0
  for (const part of COMMIT_ORDER) {
    const n = unit.commitments[part] || 0
    if (n) {
      if (proof.length < pos + 64 * n) return null
      out[part] = '0x' + bytesToHex(proof.slice(pos, pos + 64 * n))
      pos += 64 * n
    }
  }
  return out
}

// ---- the EVM ----------------------------------------------------------------------------------------------

let verifierPromise = null

// every unit's verifier (one, or one per segment) deployed in one in-browser EVM
async function deployVerifiers(model) {
  const common = new Common({ chain: Mainnet, hardfork: Hardfork.Cancun })
  const evm = await createEVM({ common })
  const deployed = []
  for (const [i, unit] of model.units.entries()) {
    const what = model.units.length > 1 ? `segment ${i}'s verifier contract` : 'the verifier contract'
    const res = await evm.runCall({ data: hexToBytes(unit.verifier.bytecode), gasLimit: GAS })
    if (res.execResult.exceptionError || !res.createdAddress) {
      throw new Error(`${what} could not be deployed in the in-browser EVM: ${res.execResult.exceptionError?.error}`)
    }
    const address = res.createdAddress
    let vka = null
    if (unit.verifier.reusable) {
      vka = unit.verifier.vka.map(hexToBytes)
      const reg = await evm.runCall({ to: address, data: concat([selector('registerVka(bytes32[])'), encodeArgs([['bytes32[]', vka]])]), gasLimit: GAS })
      if (reg.execResult.exceptionError) throw new Error(`registerVka of ${what} reverted in the in-browser EVM: ${reg.execResult.exceptionError.error}`)
    }
    deployed.push({ evm, address, vka })
  }
  return deployed
}

function verifier(model) {
  verifierPromise ??= deployVerifiers(model)
  return verifierPromise
}

async function evmVerify(model, i, proof, instances) {
  const { evm, address, vka } = (await verifier(model))[i]
  const nums = instances.map(leHexToBigInt)
  const data = vka
    ? concat([selector('verifyProof(bytes,uint256[],bytes32[])'), encodeArgs([['bytes', proof], ['uint256[]', nums], ['bytes32[]', vka]])])
    : concat([selector('verifyProof(bytes,uint256[])'), encodeArgs([['bytes', proof], ['uint256[]', nums]])])
  const res = await evm.runCall({ to: address, data, gasLimit: GAS })
  const err = res.execResult.exceptionError
  if (err) return { ok: false, reason: `the verifier contract rejected the proof (${err.error})` }
  const out = res.execResult.returnValue
  const ok = out.length >= 32 && out.slice(0, 31).every((b) => b === 0) && out[31] === 1
  return { ok, reason: ok ? null : 'the verifier contract returned false', gas: res.execResult.executionGasUsed }
}

// ---- the SRS: its status decided here, from the bytes the verifier contract was made with ------------------

// BN254 base field, and 2^-256 mod P (halo2 writes field elements little-endian in Montgomery form)
const P = 21888242871839275222246405745257275088696311157297823662689037894645226208583n
const modpow = (b, e, m) => {
  let r = 1n
  b %= m
  for (; e > 0n; e >>= 1n, b = (b * b) % m) if (e & 1n) r = (r * b) % m
  return r
}
const RINV = modpow(modpow(2n, 256n, P), P - 2n, P)

const le = (bytes) => {
  let v = 0n
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i])
  return v
}

async function sha256Hex(bytes) {
  if (!globalThis.crypto?.subtle) throw new Error('this browser offers no SHA-256 here (crypto.subtle needs a secure context: https, localhost or file://)')
  return bytesToHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)))
}

// the four words of -[tau]_2 as the verifier holds them (neg_s_g2 x_1, x_2, y_1, y_2: EIP-197 order, imaginary
// part first), from the SRS file's last point ([1]_2 then [tau]_2 end ezkl's raw ParamsKZG file)
function negTauG2Words(srs) {
  const tail = srs.slice(srs.length - 128)
  const [x0, x1, y0, y1] = [0, 1, 2, 3].map((i) => (le(tail.slice(32 * i, 32 * i + 32)) * RINV) % P)
  return [x1, x0, (P - y1) % P, (P - y0) % P].map((v) => v.toString(16).padStart(64, '0'))
}

// Is `srs` the SRS this unit's verifier checks proofs with? The verifier's pairing check uses -[tau]_2: the
// per-model verifier has its four words as PUSH32 constants, the reusable one takes them in the VKA.
function verifierUsesSrs(unit, srs) {
  const words = negTauG2Words(srs)
  if (unit.verifier.reusable) {
    const vka = new Set((unit.verifier.vka || []).map((w) => w.replace(/^0x/, '').toLowerCase()))
    return words.every((w) => vka.has(w))
  }
  const code = unit.verifier.bytecode.replace(/^0x/, '').toLowerCase()
  return words.every((w) => code.includes('7f' + w))
}

// the verifier's own pin: #srs-sha256=HEX in the address (this reader's), else the one the page was built with
function srsPin(model) {
  const m = /(?:^#|&)srs-sha256=(?:0x)?([0-9a-fA-F]{64})(?:&|$)/.exec(location.hash)
  if (m) return { sha256: m[1].toLowerCase(), by: 'the address (#srs-sha256=)' }
  return model.srs_pin ? { sha256: model.srs_pin, by: 'the page builder' } : null
}

// ceremony (digest in zkml's table, shipped in the page) / pinned (the pin above) / unknown (anything else), for the
// SRS bytes themselves: hashed here, and refused unless the verifier contract was made with them
export async function srsStatusOf(model, unit, srs) {
  const forge = 'whoever made this SRS may forge proofs'
  const k = srs.length >= 4 ? srs[0] | (srs[1] << 8) | (srs[2] << 16) | (srs[3] * 2 ** 24) : -1
  if (k < 1 || k > 30 || srs.length !== 4 + 2 * 2 ** k * 64 + 256) {
    return { kind: 'unknown', sha256: null, message: `unknown SRS: the file is not an SRS in ezkl's raw format (${srs.length} bytes): ${forge}` }
  }
  const sha256 = await sha256Hex(srs)
  if (!verifierUsesSrs(unit, srs)) {
    return { kind: 'unknown', sha256, message: `unknown SRS: the SRS file (sha256 ${sha256.slice(0, 16)}) is not the one the verifier contract checks with: ${forge}` }
  }
  const name = model.ceremonies?.[sha256]
  if (name) return { kind: 'ceremony', sha256, name, message: `ceremony SRS ${name} (its sha256 ${sha256.slice(0, 16)} is in zkml's table)` }
  const pin = srsPin(model)
  if (pin && pin.sha256 === sha256) return { kind: 'pinned', sha256, message: `pinned SRS (sha256 ${sha256.slice(0, 16)}, pinned by ${pin.by})` }
  return { kind: 'unknown', sha256, message: `unknown SRS (sha256 ${sha256.slice(0, 16)}, neither a known ceremony's nor pinned): ${forge}; pin the ceremony's digest with #srs-sha256=HEX if you trust it` }
}

async function readSiteFile(name) {
  let resp
  try {
    resp = await fetch(new URL(name, location.href), { credentials: 'omit', cache: 'no-store' })
  } catch (err) {
    const hint = location.protocol === 'file:' ? ' (a page opened from file:// may not read other files: serve the folder over http, or pick the SRS file below)' : ''
    throw new Error(`could not read ${name}: ${err.message}${hint}`)
  }
  if (!resp.ok) throw new Error(`could not read ${name}: HTTP ${resp.status}`)
  return new Uint8Array(await resp.arrayBuffer())
}

const RANK = { unknown: 0, pinned: 1, ceremony: 2 }

// one status for the statement: every unit's SRS, the weakest of them (as zkml.srs.weakest_status)
async function srsStatus(model, picked) {
  const statuses = []
  for (const [i, unit] of model.units.entries()) {
    let srs
    try {
      srs = picked ?? (await readSiteFile(unit.srs_file))
    } catch (err) {
      statuses.push({ kind: 'unknown', sha256: null, message: `unknown SRS: ${err.message}` })
      continue
    }
    let s
    try {
      s = await srsStatusOf(model, unit, srs)
    } catch (err) {
      s = { kind: 'unknown', sha256: null, message: `unknown SRS: ${err.message}` }
    }
    statuses.push(model.units.length > 1 ? { ...s, message: `segment ${i}: ${s.message}` } : s)
  }
  return statuses.reduce((a, b) => (RANK[b.kind] < RANK[a.kind] ? b : a))
}

let srsPromise = null
const currentSrs = (model) => (srsPromise ??= srsStatus(model).then(showSrs))

function showSrs(s) {
  const el = $('srs')
  el.textContent = `${s.kind}: ${s.message}`
  el.dataset.kind = s.kind
  el.dataset.sha256 = s.sha256 || ''
  // whatever the page was built saying (model.dev_srs), an SRS that is neither a known ceremony's nor pinned is
  // one whose maker may forge proofs: say so above the verdicts
  $('srs-warning').hidden = s.kind !== 'unknown' || !$('dev-srs-warning').hidden
  $('srs-warning-text').textContent = s.message
  return s
}

// ---- checking a proof -------------------------------------------------------------------------------------

const short = (h) => String(h ?? '?').slice(0, 12)

// the same checks, in the same order, as zkml.verify; the EVM verifier itself checks the proof's encoding.
// The statement the page was built for: every unit (the model, or each segment of a split model) verified by its
// own verifier contract, every link between segments equal as read from the proof bytes, and the weights
// fingerprint (every unit's weights commitment, in order) equal to the one the page pins, when it pins one.
export async function check(model, text) {
  const p = parseProof(text)
  const n = model.units.length
  const invalid = (reason, extra = {}) => ({ verdict: 'invalid', reason, ...extra })
  if (p.split !== n > 1 || p.parts.length !== n) {
    if (p.split !== n > 1) return invalid(n > 1 ? `this page verifies a model split into ${n} segments; the file is a proof of one circuit` : 'the file is a split proof; this page verifies a model of one circuit')
    return invalid(`the proof has ${p.parts.length} segments, the key's model has ${n}`)
  }
  // what the proof file claims (informational, but a disagreement is refused, as zkml.verify refuses it)
  const ids = [model.model_id, model.key_id]
  const claimed = p.meta.model_id
  if (claimed != null && !model.committed && !ids.includes(claimed)) { // committed: the id covers the proof's own weights
    return invalid(`the proof file says it was made for model ${short(claimed)}, not for this key (${short(model.model_id)})`)
  }
  for (const [i, unit] of model.units.entries()) {
    const where = n > 1 ? `segment ${i}: ` : ''
    const meta = p.parts[i].meta
    const wrong = Object.keys(unit.claims).filter((k) => k in meta && canon(meta[k]) !== canon(unit.claims[k]))
    if (wrong.length) {
      if (wrong.some((k) => ['key_id', 'vk_sha256', 'model_sha256'].includes(k))) {
        return invalid(`${where}the proof file says it was made for key ${short(meta.key_id ?? meta.model_id)}, not for this key (${short(unit.key_id)})`)
      }
      return invalid(`${where}the proof file's metadata disagrees with the verifying key on ${wrong.join(', ')}`)
    }
    const inst = p.parts[i].instances
    if (inst.length !== unit.decode.instances) {
      return invalid(`${where}the proof has ${inst.length} public values, the key's circuit has ${unit.decode.instances}`)
    }
    const aliased = inst.findIndex((h) => leHexToBigInt(h) >= R)
    if (aliased >= 0) {
      return invalid(`${where}public value #${aliased} is not a canonical field element (>= the BN254 scalar modulus): an aliased value`)
    }
  }
  const t0 = performance.now()
  let gas = 0n
  for (const [i] of model.units.entries()) {
    const res = await evmVerify(model, i, p.parts[i].proof, p.parts[i].instances)
    if (!res.ok) return invalid((n > 1 ? `segment ${i}: ` : '') + res.reason, { ms: performance.now() - t0 })
    gas += BigInt(res.gas)
  }
  const commitments = model.units.map((u, i) => readCommitments(u, p.parts[i].proof))
  for (let i = 0; i + 1 < n; i++) {
    const out = commitments[i]?.output
    const nxt = commitments[i + 1]?.input
    if (!out || !nxt) return invalid(`segments ${i} and ${i + 1} are not linked by commitments in their keys`, { ms: performance.now() - t0 })
    if (out !== nxt) {
      return invalid(`segment ${i + 1} did not take segment ${i}'s output: their link commitments differ (a segment from another inference, or segments out of order)`, { ms: performance.now() - t0 })
    }
  }
  const weights = model.committed ? '0x' + commitments.map((c) => (c?.params ?? '').slice(2)).join('') : null
  if (model.weights_commitment != null && weights !== model.weights_commitment) {
    return invalid('the proof\'s weights commitment is not the one this page was built for: another set of weights produced it', { ms: performance.now() - t0 })
  }
  const ms = performance.now() - t0
  return { verdict: 'valid', ms, gas: gas.toString(), visibility: model.visibility, weights, weights_checked: model.weights_commitment != null, ...decode(model, p.parts) }
}

// what a verdict says of the weights, in words
function weightsLine(model, r) {
  if (!model.committed) return 'The weights are fixed in the verifying key.'
  if (r.weights_checked) return `Weights checked: the proof's weights commitment is the fingerprint this page pins (${short(r.weights)}…).`
  return `Weights NOT checked: the proof was made with the weights of commitment ${short(r.weights)}…, which this page does not pin; compare it with the fingerprint the model's owner published.`
}

// a duration for people, with sub-millisecond precision (performance.now() is fractional)
function duration(ms) {
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`
  if (ms < 100) return `${ms.toFixed(1)} ms`
  if (ms < 10000) return `${ms.toFixed(0)} ms`
  return `${(ms / 1000).toFixed(1)} s`
}

// ---- the page ---------------------------------------------------------------------------------------------

// one line per output for people: rounded values and, for several scores, which one is largest
function human(o) {
  const flat = [o.values].flat(Infinity)
  const shown = flat.slice(0, 16).map((x) => (Number.isInteger(x) ? String(x) : x.toFixed(4))).join(', ')
  let line = `${o.name} [${o.shape.join('×')}]: ${shown}${flat.length > 16 ? ', …' : ''}`
  if (flat.length > 1) line += `  → largest at index ${flat.indexOf(Math.max(...flat))}`
  return line
}

function show(result) {
  const v = $('verdict')
  v.dataset.verdict = result.verdict
  v.className = 'verdict ' + result.verdict
  const title = { valid: 'Valid proof', invalid: 'Invalid proof', error: 'Cannot check this file', checking: 'Checking…' }[result.verdict]
  v.querySelector('.title').textContent = title
  v.querySelector('.message').textContent = result.message
  const outs = $('outputs')
  // valid JSON, one output per line
  outs.textContent = result.verdict === 'valid' ? '[\n' + result.outputs.map((o) => ' ' + JSON.stringify(o)).join(',\n') + '\n]' : ''
  $('outputs-human').textContent = result.verdict !== 'valid' ? ''
    : result.outputs.length ? result.outputs.map(human).join('\n')
      : `no public outputs: the output is ${result.visibility.output} (its hash, if any, is below)`
  $('outputs-box').hidden = result.verdict !== 'valid'
  const extra = []
  if (result.verdict === 'valid') {
    if (result.public_inputs.length) extra.push('public inputs: ' + JSON.stringify(result.public_inputs))
    for (const [k, hs] of Object.entries(result.hashes)) extra.push(`${k} hash: ${hs.join(', ')}`)
    if (result.weights) extra.push(`weights commitment: ${result.weights} (${result.weights_checked ? 'checked against the pinned fingerprint' : 'NOT checked: nothing pinned'})`)
  }
  v.dataset.weights = result.verdict === 'valid' ? (result.weights ? (result.weights_checked ? 'checked' : 'unchecked') : 'fixed') : ''

  $('public').textContent = extra.join('\n')
  $('public').hidden = !extra.length
  if (result.ms != null) v.dataset.ms = result.ms.toFixed(3)
  else delete v.dataset.ms
}

async function run(model, label, read) {
  show({ verdict: 'checking', message: `Checking ${label} with the model's verifier contract…` })
  $('verdict').dataset.verdict = 'checking'
  let text
  try {
    text = await read()
  } catch (err) {
    show({ verdict: 'error', message: `${label}: ${err.message}` })
    return
  }
  try {
    const r = await check(model, text)
    const srs = await currentSrs(model) // decided now, from the SRS bytes: never the page's build-time view
    $('verdict').dataset.srs = srs.kind
    if (r.verdict === 'valid') {
      const what = model.units.length > 1 ? `all ${model.units.length} segments' verifier contracts accepted it and every link matches` : "the model's verifier contract accepted it"
      show({ ...r, message: `${label} verified in ${duration(r.ms)} in this browser (${r.gas} gas): ${what}. ${weightsLine(model, r)} SRS: ${srs.message}.` })
    } else {
      show({ ...r, message: `${label}: ${r.reason}.` })
    }
  } catch (err) {
    show({ verdict: 'error', message: `${label}: ${err instanceof NotAProof ? err.message : 'the check failed: ' + err.message}` })
  }
}

function proofFromHash(model) {
  const m = /(?:^#|&)proof=([^&]+)/.exec(location.hash)
  if (!m) return
  const rel = decodeURIComponent(m[1])
  run(model, rel, async () => {
    const folder = new URL('.', location.href)
    const url = new URL(rel, location.href)
    // only the site's own files: a page that fetched anything else would tell someone which proof was checked
    if (/^[a-z][a-z0-9+.-]*:/i.test(rel) || rel.startsWith('//') || !url.href.startsWith(folder.href)) {
      throw new Error('#proof= takes a relative URL inside this page\'s folder; nothing else is fetched')
    }
    let resp
    try {
      resp = await fetch(url, { credentials: 'omit', cache: 'no-store' })
    } catch (err) {
      const hint = location.protocol === 'file:' ? ' (a page opened from file:// may not read other files: serve the folder over http, or use the file picker)' : ''
      throw new Error(`could not read the proof: ${err.message}${hint}`)
    }
    if (!resp.ok) throw new Error(`could not read the proof: HTTP ${resp.status}`)
    return resp.text()
  })
}

function init() {
  const model = JSON.parse($('zkml-model').textContent)
  $('model-name').textContent = model.name
  $('model-id').textContent = model.model_id
  $('model-cid').textContent = model.bundle_cid || '—'
  $('key-id').textContent = model.key_id
  $('segments').textContent = model.units.length > 1 ? `${model.units.length} segments, each verified by its own contract; every link between them compared` : 'one circuit'
  $('weights').textContent = !model.committed ? 'fixed in the verifying key'
    : model.weights_commitment != null ? `committed; this page accepts only the fingerprint ${model.weights_commitment}`
      : 'committed; no fingerprint pinned: a verdict reports the proof\'s weights commitment and does not check it'
  const vis = model.visibility
  $('visibility').textContent = `input ${vis.input}, output ${vis.output}, weights ${vis.params}`
  const info = (v) => `${v.name}${v.reusable ? ' (reusable, with the VKA)' : ''}, ${v.deployed_size} bytes`
  $('verifier-info').textContent = model.units.map((u, i) => (model.units.length > 1 ? `segment ${i}: ` : '') + info(u.verifier)).join('; ') +
    `; solc ${model.units[0].verifier.solc_version}, EVM ${model.units[0].verifier.evm_version}`
  $('dev-srs-warning').hidden = !model.dev_srs
  // the SRS status is computed here from the SRS file's bytes (model.srs_status, the builder's view, is not used)
  $('srs').textContent = 'checking the SRS file…'
  $('srs').dataset.kind = 'checking'
  currentSrs(model)
  const srsFile = $('srs-file')
  srsFile.addEventListener('change', async () => {
    if (!srsFile.files.length) return
    $('srs').dataset.kind = 'checking'
    const bytes = new Uint8Array(await srsFile.files[0].arrayBuffer())
    srsPromise = srsStatus(model, bytes).then(showSrs)
    srsFile.value = ''
  })
  window.addEventListener('hashchange', () => {
    srsPromise = null
    currentSrs(model)
  })
  const file = $('proof-file')
  const read = (f) => run(model, f.name, () => f.text())
  file.addEventListener('change', () => {
    if (!file.files.length) return
    read(file.files[0])
    file.value = '' // picking the same file again (after editing it) checks it again
  })
  const drop = $('drop')
  document.addEventListener('dragover', (e) => {
    e.preventDefault()
    drop.classList.add('over')
  })
  document.addEventListener('dragleave', () => drop.classList.remove('over'))
  document.addEventListener('drop', (e) => {
    e.preventDefault()
    drop.classList.remove('over')
    const f = e.dataTransfer?.files?.[0]
    if (f) read(f)
  })
  window.addEventListener('hashchange', () => proofFromHash(model))
  $('verdict').dataset.verdict = 'none'
  verifier(model).catch((err) => show({ verdict: 'error', message: err.message }))
  proofFromHash(model)
  window.zkmlPage = { check: (text) => check(model, text), model, srs: () => currentSrs(model) }
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init)
else init()
