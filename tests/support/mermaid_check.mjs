// Mermaid's own parser, under Node (no browser): `mermaid.parse` reads the diagram with
// the grammar the renderer uses and throws on anything it would not draw.
// stdin: a JSON list of diagram texts; stdout: a JSON list, null per diagram that parses,
// else Mermaid's error message. Run with cwd = a folder whose node_modules has mermaid.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import path from "node:path";

const require = createRequire(path.join(process.cwd(), "package.json"));
const entry = require.resolve("mermaid");
const { default: mermaid } = await import(pathToFileURL(entry).href);
mermaid.initialize({ startOnLoad: false });

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const text of JSON.parse(input)) {
  try {
    await mermaid.parse(text);
    results.push(null);
  } catch (error) {
    results.push(String((error && error.message) || error));
  }
}
process.stdout.write(JSON.stringify(results));
