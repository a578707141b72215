import { minify } from "terser";
import { readFileSync } from "node:fs";
import { ESPRUINO_MANGLED_PROPS as P } from "../rollup.config.mjs";
const code = readFileSync(process.argv[2], "utf8");
const base = { ecma: 5, format: { ecma: 5, comments: false }, mangle: { toplevel: true, properties: { builtins: true, regex: new RegExp("^(" + P.join("|") + ")$") } } };
const variants = {
  cur: { passes: 2, ecma: 5 },
  p3: { passes: 3, ecma: 5 },
  p3pg: { passes: 3, ecma: 5, pure_getters: true },
  p3pgu: { passes: 3, ecma: 5, pure_getters: true, unsafe: true, unsafe_comps: true, unsafe_math: true },
  p3pgu_hp: { passes: 3, ecma: 5, pure_getters: true, unsafe: true, unsafe_comps: true, unsafe_math: true, hoist_props: true, toplevel: true },
};
for (const [k, c] of Object.entries(variants)) { const r = await minify(code, { ...base, compress: c }); console.log(k, r.code.length); }
