import { minify } from "terser";
import * as acorn from "acorn";
import { readFileSync } from "node:fs";
import { ESPRUINO_MANGLED_PROPS } from "../rollup.config.mjs";
const src = readFileSync("dist/espruino/linkguard.js","utf8");
const code = src.slice(src.indexOf("\n(function")>0?0:0);
const r = await minify(code, {ecma:5, compress:{passes:2}, mangle:false, format:{comments:false}});
const ast = acorn.parse(r.code, {ecmaVersion:5});
// find the iife body
let body = ast.body;
for (const st of body) { if (st.type==="ExpressionStatement") { let e=st.expression; if(e.type==="UnaryExpression") e=e.argument; if (e.type==="CallExpression" && e.callee.type==="FunctionExpression") body=e.callee.body.body; } }
const rows=[]; for (const st of body) { let name = st.type==="FunctionDeclaration"? st.id.name : st.type==="VariableDeclaration"? st.declarations.map(d=>d.id.name).join(","): st.type; rows.push([st.end-st.start,name]); }
rows.sort((a,b)=>b[0]-a[0]); let t=0; for (const x of rows) t+=x[0];
console.log("total",t, "min total", r.code.length); for (const x of rows.slice(0,80)) console.log(String(x[0]).padStart(6), x[1].slice(0,100));
