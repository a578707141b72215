import * as rc from "../rollup.config.mjs";
import { rollup } from "rollup";
import { minify } from "terser";
const b = rc.espruinoBuild("/tmp/espsz");
const bundle = await rollup(b.input);
const { output } = await bundle.generate(b.outputs[0]);
const P = rc.ESPRUINO_MANGLED_PROPS;
let t=0; const rows=[];
for (const [k,v] of Object.entries(output[0].modules)) {
  const m = await minify(v.code, {ecma:5, compress:{passes:2,unused:false}, mangle:{toplevel:true, properties:{builtins:true, regex:new RegExp("^("+P.join("|")+")$")}}, toplevel:false});
  rows.push([k.replace(/.*\/main\//,""), m.code.length]); t+=m.code.length;
}
rows.sort((a,b)=>b[1]-a[1]); for (const [k,v] of rows) console.log(String(v).padStart(7), k); console.log(t);
const v = output[0].modules[Object.keys(output[0].modules).find(k=>k.endsWith("core/link.ts"))];
const m = await minify(v.code, {ecma:5, compress:{passes:2,unused:false}, mangle:{toplevel:true, properties:{builtins:true, regex:new RegExp("^("+P.join("|")+")$")}}, toplevel:false});
const strs = m.code.match(/"(?:[^"\\]|\\.)*"/g); let sl=0; for (const s of strs) sl+=s.length; console.log("link strings", strs.length, sl);
const c={}; for (const s of strs) c[s]=(c[s]||0)+1; console.log(Object.entries(c).sort((a,b)=>b[1]*b[0].length-a[1]*a[0].length).slice(0,50).map(x=>x[1]+"x"+x[0]).join("  "));
