// Compile Solidity with npm's solc (solc-js) through its standard-JSON interface.
// Usage: node solc_compile.js /path/to/node_modules/solc < input.json > output.json
const solc = require(process.argv[2]);
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  process.stdout.write(solc.compile(input));
});
