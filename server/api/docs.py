"""`/openapi.json` and `/docs`: the API description and a self-contained page that renders it.

The page has no external resources (no CDN): inline CSS and a small script that reads
/openapi.json and lists every operation with its parameters, body, responses and examples.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse

from server.api.context import base_url
from server.api.openapi import build_openapi


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(build_openapi(base_url(request)))


async def docs_page(_request: Request) -> HTMLResponse:
    return HTMLResponse(
        DOCS_HTML,
        headers={
            "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
        },
    )


DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>LiftStream API</title>
<link rel="icon" href="/icon.svg" type="image/svg+xml">
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{background:#16324f;color:#fff;padding:18px 28px}
main{max-width:1000px;margin:0 auto;padding:12px 20px 60px}
section.op{background:#fff;border:1px solid #d9dee4;border-radius:8px;margin:14px 0;padding:10px 16px}
.m{display:inline-block;min-width:54px;text-align:center;font-weight:700;border-radius:4px;padding:2px 6px;color:#fff}
.get{background:#2f7d4f}.post{background:#1f5fa8}.put{background:#8f5b00}
code,pre{font:13px/1.35 ui-monospace,monospace}
pre{background:#f0f2f5;padding:8px;border-radius:6px;overflow:auto;max-height:360px}
table{border-collapse:collapse;width:100%;margin:6px 0}
td,th{border-top:1px solid #e3e7eb;text-align:left;padding:4px 6px;vertical-align:top}
details>summary{cursor:pointer;color:#16324f}
</style></head>
<body><header><h1 id="title">LiftStream API</h1><div id="desc"></div></header>
<main id="ops"><p>Loading <a href="/openapi.json">/openapi.json</a>&hellip;</p></main>
<script>
const esc = s => String(s ?? "").replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
const el = (tag, html) => { const e = document.createElement(tag); e.innerHTML = html; return e; };
function resolve(doc, s) {
  if (s && s.$ref) return doc.components.schemas[s.$ref.split("/").pop()];
  return s || {};
}
function fields(doc, schema) {
  const s = resolve(doc, schema), req = new Set(s.required || []);
  const rows = Object.entries(s.properties || {}).map(([k, v]) => {
    const r = resolve(doc, v);
    const type = Array.isArray(r.type) ? r.type.join(" | ") : (r.type || (v.$ref ? v.$ref.split("/").pop() : ""));
    const extra = r.enum ? " one of: " + r.enum.map(esc).join(", ") : "";
    return `<tr><td><code>${esc(k)}</code>${req.has(k) ? " *" : ""}</td><td>${esc(type)}${r.format ? " (" + esc(r.format) + ")" : ""}</td><td>${esc(r.description)}${extra}</td></tr>`;
  });
  return rows.length ? `<table><tr><th>field</th><th>type</th><th>meaning</th></tr>${rows.join("")}</table>` : "";
}
fetch("/openapi.json").then(r => r.json()).then(doc => {
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  document.getElementById("desc").textContent = doc.info.description;
  const main = document.getElementById("ops"); main.innerHTML = "";
  for (const [path, ops] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(ops)) {
    const sec = el("section", `<h3><span class="m ${method}">${method.toUpperCase()}</span> <code>${esc(path)}</code></h3><p><b>${esc(op.summary)}</b>${op.security && !op.security.length ? " (no token)" : ""}</p><p>${esc(op.description)}</p>`);
    sec.className = "op";
    const params = (op.parameters || []).map(p => `<tr><td><code>${esc(p.name)}</code>${p.required ? " *" : ""}</td><td>${esc(p.in)}</td><td>${esc(p.description)}</td></tr>`);
    if (params.length) sec.append(el("div", `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>meaning</th></tr>${params.join("")}</table>`));
    if (op.requestBody) for (const [type, media] of Object.entries(op.requestBody.content)) {
      sec.append(el("div", `<h4>Body (${esc(type)})</h4>${fields(doc, media.schema)}${media.example ? "<pre>" + esc(JSON.stringify(media.example, null, 2)) + "</pre>" : ""}`));
    }
    const rows = Object.entries(op.responses).map(([code, r]) => {
      const media = r.content && Object.values(r.content)[0];
      const body = media && media.schema && media.schema.$ref ? `<details><summary>${esc(media.schema.$ref.split("/").pop())}</summary>${fields(doc, media.schema)}${media.example ? "<pre>" + esc(JSON.stringify(media.example, null, 2)) + "</pre>" : ""}</details>` : "";
      return `<tr><td><b>${esc(code)}</b></td><td>${esc(r.description)}${body}</td></tr>`;
    });
    sec.append(el("div", `<h4>Responses</h4><table>${rows.join("")}</table>`));
    main.append(sec);
  }
}).catch(e => { document.getElementById("ops").textContent = "Could not load /openapi.json: " + e; });
</script></body></html>
"""
