// An independent reader of zkml bundles: @ipld/car, @ipld/dag-cbor and multiformats (JavaScript).
// Usage: node ipld_check.mjs BUNDLE.car OUTDIR  -> prints {"root", "core", "files"} as JSON and writes the files.
import fs from "node:fs";
import path from "node:path";
import { CarReader } from "@ipld/car";
import * as dagCbor from "@ipld/dag-cbor";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";

const [carPath, outDir] = process.argv.slice(2);
const reader = await CarReader.fromBytes(fs.readFileSync(carPath));
const blocks = new Map();
for await (const { cid, bytes } of reader.blocks()) {
  const codec = cid.code === raw.code ? raw.code : dagCbor.code;
  const again = CID.create(1, codec, await sha256.digest(bytes));
  if (!again.equals(cid)) throw new Error(`block ${cid} does not match its content`);
  blocks.set(cid.toString(), bytes);
}
const [rootCid] = await reader.getRoots();
const rootBytes = blocks.get(rootCid.toString());
const root = dagCbor.decode(rootBytes);
// re-encode the root node and hash it ourselves: the same root CID must come out
const reencoded = CID.create(1, dagCbor.code, await sha256.digest(dagCbor.encode(root)));
const files = {};
for (const group of ["core", "srs", "model"]) {
  if (!root[group]) continue;
  const node = dagCbor.decode(blocks.get(root[group].toString()));
  for (const [name, entry] of Object.entries(node.files)) {
    const parts = entry.chunks.map((c) => blocks.get(c.toString()));
    const data = Buffer.concat(parts.map((b) => Buffer.from(b)));
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, name), data);
    files[name] = data.length;
  }
}
console.log(JSON.stringify({ root: rootCid.toString(), reencoded: reencoded.toString(), core: root.core.toString(), files }));
