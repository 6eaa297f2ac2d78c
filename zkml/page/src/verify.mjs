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

// zkml's table of ceremony SRS digests (sha256 -> name), compiled into this script when the page is built
// (esbuild's define, from zkml/srs_ceremonies.json): code, not the page's data, which anyone who edits the folder
// edits too. A script run without it knows no ceremony.
// eslint-disable-next-line no-undef
const CEREMONIES = Object.freeze(typeof ZKML_CEREMONIES === 'string' ? JSON.parse(ZKML_CEREMONIES) : {})

// BN254's standard G2 generator as EIP-197 words (x imaginary, x real, y imaginary, y real): every ceremony SRS's
// [1]_2, and what ezkl's verifier pairs with
const G2_GENERATOR = [
  '198e9393920d483a7260bfb731fb5d25f1aa493335a9e71297e485b7aef312c2',
  '1800deef121f1e76426a00665e5c4479674322d4f75edadd46debd5cd992f6ed',
  '090689d0585ff075ec9e99ad690c3395bc4b313370b38ef355acdadcd122975b',
  '12c85ea5db8c6deb4aab71808dcb408fe3d1e7690c43d37b4ce6cc0166fa7daa',
]
const hex64 = (v) => v.toString(16).padStart(64, '0')

// a G2 point of the SRS file as the verifier holds it (EIP-197 order, imaginary part first); `negate`: -P
function g2Words(srs, offset, negate) {
  const t = srs.slice(offset, offset + 128)
  const [x0, x1, y0, y1] = [0, 1, 2, 3].map((i) => (le(t.slice(32 * i, 32 * i + 32)) * RINV) % P)
  return (negate ? [x1, x0, (P - y1) % P, (P - y0) % P] : [x1, x0, y1, y0]).map(hex64)
}

// the key constants the verifier's pairing check uses, from the SRS file: [1]_2 and -[tau]_2 (the file's last
// two points, [1]_2 then [tau]_2, end ezkl's raw ParamsKZG format)
export function srsVerifierWords(srs) {
  return { g2: g2Words(srs, srs.length - 256, false), negTauG2: g2Words(srs, srs.length - 128, true) }
}

// the code's instructions, in order (a PUSH's bytes are its data, never instructions)
function instructions(code) {
  const out = []
  for (let i = 0; i < code.length;) {
    const op = code[i]
    const n = op >= 0x5f && op <= 0x7f ? op - 0x5f : -1 // PUSH0..PUSH32
    out.push(n >= 0 ? { op, data: code.slice(i + 1, i + 1 + n) } : { op })
    i += 1 + Math.max(n, 0)
  }
  return out
}
const num = (bytes) => bytes.reduce((v, b) => (v << 8n) | BigInt(b), 0n)

// ezkl's per-model Halo2Verifier ("Load full vk into memory"): one contiguous run of `mstore(MPTR, constant)`,
// consecutive words, holding ... g1_x = 1, g1_y = 2, g2_x_1, g2_x_2, g2_y_1, g2_y_2, neg_s_g2_x_1 .. neg_s_g2_y_2
// ...; the pairing reads g2 and neg_s_g2 back with mload. The words are read there, not anywhere in the code.
function perModelKeyWords(code) {
  const ins = instructions(code)
  const stores = [] // PUSH value, PUSH addr, MSTORE
  const loads = new Set() // PUSH addr, MLOAD
  for (let k = 0; k + 1 < ins.length; k++) {
    if (!ins[k].data) continue
    if (ins[k + 1].op === 0x51) loads.add(num(ins[k].data))
    if (k + 2 < ins.length && ins[k + 1].data && ins[k + 2].op === 0x52) stores.push({ k, addr: num(ins[k + 1].data), value: hex64(num(ins[k].data)) })
  }
  const found = []
  for (let i = 0; i + 9 < stores.length; i++) {
    const run = stores.slice(i, i + 10)
    if (run.every((s, j) => s.k === run[0].k + 3 * j && s.addr === run[0].addr + 32n * BigInt(j)) && run[0].value === hex64(1n) && run[1].value === hex64(2n)) found.push(run)
  }
  if (found.length !== 1) return { why: found.length ? 'its code holds the verifying key twice' : "its verifying key's constants are not where ezkl's verifier template puts them" }
  const run = found[0]
  const at = new Set(run.map((s) => s.addr))
  if (stores.some((s) => at.has(s.addr) && !run.includes(s))) return { why: "its code writes the verifying key's pairing constants twice" }
  if (!run.slice(2).every((s) => loads.has(s.addr))) return { why: "its pairing check does not read the verifying key's G2 constants" }
  const words = run.map((s) => s.value)
  return { g2: words.slice(2, 6), negTauG2: words.slice(6, 10) }
}

// ezkl's reusable verifier takes the key in the VKA: words 14, 15 are g1 (1, 2), 16..19 g2, 20..23 neg_s_g2; the
// contract's pairing reads them from the VKA's copy in memory (word i at 0xa0 + 32 i)
const VKA_G1 = 14
function reusableKeyWords(unit, code) {
  const vka = (unit.verifier.vka || []).map((w) => hex64(BigInt('0x' + w.replace(/^0x/, ''))))
  if (vka.length < VKA_G1 + 10 || vka[VKA_G1] !== hex64(1n) || vka[VKA_G1 + 1] !== hex64(2n)) return { why: "its VKA does not hold the key's constants where ezkl's reusable verifier reads them" }
  const ins = instructions(code)
  const loads = new Set()
  for (let k = 0; k + 1 < ins.length; k++) if (ins[k].data && ins[k + 1].op === 0x51) loads.add(num(ins[k].data))
  for (let j = VKA_G1 + 2; j < VKA_G1 + 10; j++) {
    if (!loads.has(0xa0n + 32n * BigInt(j))) return { why: "its pairing check does not read the G2 constants from the VKA where ezkl's reusable verifier does" }
  }
  return { g2: vka.slice(VKA_G1 + 2, VKA_G1 + 6), negTauG2: vka.slice(VKA_G1 + 6, VKA_G1 + 10) }
}

// Was this unit's verifier (its runtime code, as deployed, and its VKA) made with `srs`? Its pairing check uses
// [1]_2 and -[tau]_2: both must be the SRS file's, and [1]_2 BN254's standard G2 generator (an SRS whose [1]_2 is
// another point, e.g. 2[tau]_2, has a trapdoor relative to it that its maker knows). Returns null, or why not.
export function verifierMismatch(unit, code, srs) {
  const key = unit.verifier.reusable ? reusableKeyWords(unit, code) : perModelKeyWords(code)
  if (key.why) return key.why
  const want = srsVerifierWords(srs)
  if (key.g2.some((w, i) => w !== G2_GENERATOR[i])) return "its [1]_2 is not BN254's G2 generator (whoever chose it may know the trapdoor)"
  if (want.g2.some((w, i) => w !== G2_GENERATOR[i])) return "the SRS file's [1]_2 is not BN254's G2 generator"
  if (want.negTauG2.some((w, i) => w !== key.negTauG2[i])) return 'its [tau]_2 is not the SRS file\'s'
  return null
}

// the reader's pin: #srs-sha256=HEX in the address. The page builder's (model.srs_builder_claim) travels in the
// folder's data and is only ever shown as the builder's claim.
function readerPin() {
  const m = /(?:^#|&)srs-sha256=(?:0x)?([0-9a-fA-F]{64})(?:&|$)/.exec(location.hash)
  return m ? m[1].toLowerCase() : null
}

// ceremony (digest in zkml's table, compiled into this script) / pinned (the reader's pin) / unknown (anything
// else), for the SRS bytes themselves: hashed here, and refused unless the deployed verifier was made with them
export async function srsStatusOf(model, unit, code, srs) {
  const forge = 'whoever made this SRS may forge proofs'
  const k = srs.length >= 4 ? srs[0] | (srs[1] << 8) | (srs[2] << 16) | (srs[3] * 2 ** 24) : -1
  if (k < 1 || k > 30 || srs.length !== 4 + 2 * 2 ** k * 64 + 256) {
    return { kind: 'unknown', sha256: null, message: `unknown SRS: the file is not an SRS in ezkl's raw format (${srs.length} bytes): ${forge}` }
  }
  const sha256 = await sha256Hex(srs)
  const claim = model.srs_builder_claim || null
  const claimed = claim === sha256 ? 'matches' : claim ? 'differs' : ''
  const why = verifierMismatch(unit, code, srs)
  if (why) {
    return { kind: 'unknown', sha256, claimed, verifier: 'differs', message: `unknown SRS: the SRS file (sha256 ${sha256.slice(0, 16)}) is not the one the verifier contract checks with (${why}): ${forge}` }
  }
  const name = CEREMONIES[sha256]
  if (name) return { kind: 'ceremony', sha256, name, claimed, verifier: 'matches', message: `ceremony SRS ${name} (its sha256 ${sha256.slice(0, 16)} is in zkml's table, compiled into this page's script)` }
  if (readerPin() === sha256) return { kind: 'pinned', sha256, claimed, verifier: 'matches', message: `pinned SRS (sha256 ${sha256.slice(0, 16)}, pinned by you in the address: #srs-sha256=)` }
  const said = claimed === 'matches'
    ? `; the page builder claims this SRS is one it trusts (sha256 ${sha256.slice(0, 16)}): a claim in the folder's data, not a check`
    : claimed ? `; the page builder claims another SRS (sha256 ${claim.slice(0, 16)})` : ''
  return { kind: 'unknown', sha256, claimed, verifier: 'matches', message: `unknown SRS (sha256 ${sha256.slice(0, 16)}, neither a known ceremony's nor pinned by you)${said}: ${forge}; pin the ceremony's digest with #srs-sha256=HEX if you trust it` }
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
      const { evm, address } = (await verifier(model))[i]
      s = await srsStatusOf(model, unit, await evm.stateManager.getCode(address), srs) // the code as deployed
    } catch (err) {
      s = { kind: 'unknown', sha256: null, message: `unknown SRS: ${err.message}` }
    }
    statuses.push(model.units.length > 1 ? { ...s, message: `segment ${i}: ${s.message}` } : s)
  }
  const weakest = statuses.reduce((a, b) => (RANK[b.kind] < RANK[a.kind] ? b : a))
  return { ...weakest, verifiers: statuses.map((s) => s.verifier || 'unread') } // per unit: was its verifier made with its SRS file
}

let srsPromise = null
const currentSrs = (model) => (srsPromise ??= srsStatus(model).then(showSrs))

function showSrs(s) {
  const el = $('srs')
  el.textContent = `${s.kind}: ${s.message}`
  el.dataset.kind = s.kind
  el.dataset.sha256 = s.sha256 || ''
  el.dataset.verifiers = (s.verifiers || []).join(' ')
  el.dataset.claimed = s.claimed || '' // the page builder's claim: 'matches' / 'differs' this SRS's digest, or none
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
