// Dockyard API explorer. Renders GET {base}__docs__/spec and invokes the routes.
// No framework, nothing loaded from elsewhere. Text from the server is only ever put
// in the page with textContent / text nodes, never parsed as HTML. The API key is
// `key` below only: never in storage, cookies or URLs.
"use strict";
(() => {
  const base = new URL("./", location.href); // {server}/{workspace}/{instance}/
  let key = "";
  let spec = null;

  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value);
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  };
  const show = (value) => (value === undefined ? "" : JSON.stringify(value));
  const status = (text, bad) => {
    $("status").textContent = text;
    $("status").className = bad ? "bad" : "";
  };
  const headers = () => (key ? { Authorization: "Bearer " + key } : {});
  const errorText = (body, fallback) => {
    const e = body && body.error;
    return e ? `${e.code}: ${e.message}${e.suggestion ? " (" + e.suggestion + ")" : ""}` : fallback;
  };

  async function load() {
    $("base-url").textContent = base.href;
    status("Loading…");
    let r;
    try {
      r = await fetch(new URL("__docs__/spec", base), { headers: headers(), cache: "no-store" });
    } catch (err) {
      return status("Cannot reach the server: " + err.message, true);
    }
    const body = await r.json().catch(() => null);
    if (!r.ok) {
      if (r.status === 401 && !key) return status("Enter your API key to load the routes.", true);
      return status(`${r.status}: ${errorText(body, r.statusText)}`, true);
    }
    spec = body;
    render();
    status(key ? "Key set (kept in this page only)." : "No key: public routes only.");
  }

  function render() {
    document.title = `${spec.name} - API explorer`;
    $("title").textContent = spec.name;
    $("version").textContent = `${spec.workspace}/${spec.instance}` +
      (spec.version ? ` · version ${spec.version}` : "");
    $("doc").textContent = spec.doc || "";
    const rows = spec.config || [];
    const table = $("config");
    const heads = ["Name", "Type", "Default", "Required", "Description"];
    if (spec.owner_view) heads.push("Value");
    table.replaceChildren(el("tr", {}, ...heads.map((h) => el("th", { text: h }))));
    for (const p of rows) {
      const cells = [
        el("td", {}, el("code", { text: p.name }), p.secret ? el("span", { class: "badge", text: "secret" }) : null),
        el("td", { text: p.type }),
        el("td", { text: p.required ? "" : show(p.default) }),
        el("td", { text: p.required ? "yes" : "no" }),
        el("td", { text: p.description || "" }),
      ];
      if (spec.owner_view) cells.push(el("td", { text: "value" in p ? show(p.value) : "" }));
      table.append(el("tr", { class: "config-row" }, ...cells));
    }
    $("config-section").hidden = rows.length === 0;
    $("routes").replaceChildren(...(spec.methods || []).map(route));
    $("routes-section").hidden = false;
  }

  let ids = 0;
  function control(arg) {
    const id = "arg-" + ++ids;
    let input;
    if (arg.values || arg.kind === "bool") {
      const values = arg.values || [true, false];
      input = el("select", { id, name: arg.name });
      if (!arg.required) input.append(el("option", { value: "", text: `(default: ${show(arg.default)})` }));
      values.forEach((v, i) => input.append(el("option", { value: String(i), text: typeof v === "string" ? v : show(v) })));
      input.read = () => (input.value === "" ? undefined : values[Number(input.value)]);
    } else {
      input = el("input", { id, name: arg.name, type: "text", autocomplete: "off" });
      input.placeholder = arg.required ? "required" : "default: " + show(arg.default);
      if (arg.required) input.required = true;
      input.read = () => {
        const text = input.value;
        if (text === "") return undefined;
        if (/^str\b/.test(arg.kind)) return text;
        try {
          return JSON.parse(text);
        } catch {
          return text; // the server coerces it, or answers 422
        }
      };
    }
    return [el("label", { for: id }, el("code", { text: arg.name }), ` ${arg.kind}${arg.required ? " (required)" : ""}`), input];
  }

  function route(m) {
    const controls = (m.args || []).map(control);
    const out = el("div", { class: "result", hidden: "" });
    const form = el("form", { class: "invoke" }, ...controls.flat(), el("button", { type: "submit", text: "Invoke" }));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      invoke(m, controls, out);
    });
    const args = (m.args || []).map((a) =>
      el("li", {}, el("code", { text: a.name }), `: ${a.kind}`,
        a.required ? " — required" : ` — default ${show(a.default)}`,
        a.values ? ` — one of ${a.values.map(show).join(", ")}` : ""));
    return el("section", { class: "route" },
      el("h3", {}, el("span", { class: "verb verb-" + m.verb.toLowerCase(), text: m.verb }), " ",
        el("code", { text: m.path }), " ",
        el("span", { class: "badge", text: m.public ? "public" : "key required" })),
      m.doc ? el("p", { class: "doc", text: m.doc }) : null,
      el("p", {}, "Returns: ", el("code", { text: m.returns || "any" })),
      args.length ? el("ul", { class: "args" }, ...args) : el("p", { text: "No arguments." }),
      form, out);
  }

  async function invoke(m, controls, out) {
    const args = {};
    for (const [, input] of controls) {
      const value = input.read();
      if (value !== undefined) args[input.name] = value;
    }
    const path = m.path.replace(/^\/+/, "").split("/").map(encodeURIComponent).join("/");
    const url = new URL("./" + path, base);
    const init = { method: m.verb, headers: headers(), cache: "no-store" };
    if (m.verb === "GET") {
      for (const [name, value] of Object.entries(args)) {
        url.searchParams.set(name, typeof value === "string" ? value : JSON.stringify(value));
      }
    } else {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(args);
    }
    if (out.objectUrl) URL.revokeObjectURL(out.objectUrl);
    out.objectUrl = null;
    out.hidden = false;
    out.replaceChildren(el("p", { text: "Calling…" }));
    let r;
    try {
      r = await fetch(url, init);
    } catch (err) {
      return out.replaceChildren(el("p", { class: "bad", text: "Request failed: " + err.message }));
    }
    const type = r.headers.get("Content-Type") || "";
    let body;
    if (/^application\/([\w.+-]+\+)?json/i.test(type)) {
      const text = await r.text();
      let pretty = text;
      try {
        pretty = JSON.stringify(JSON.parse(text), null, 2);
      } catch {}
      body = el("pre", { class: "body", text: pretty });
    } else if (/^image\//i.test(type)) {
      out.objectUrl = URL.createObjectURL(await r.blob());
      body = el("img", { class: "body", src: out.objectUrl, alt: "the response image" });
    } else if (!type || /^text\//i.test(type)) {
      body = el("pre", { class: "body", text: await r.text() });
    } else {
      const blob = await r.blob();
      out.objectUrl = URL.createObjectURL(blob);
      body = el("p", { class: "body" }, `${blob.size} bytes. `,
        el("a", { href: out.objectUrl, download: "response", text: "Download" }));
    }
    out.replaceChildren(
      el("p", { class: r.ok ? "status ok" : "status bad", text: `Status: ${r.status} ${r.statusText}` }),
      el("p", { class: "type", text: "Content-Type: " + (type || "(none)") }),
      body);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      key = $("api-key").value.trim();
      $("api-key").value = "";
      load();
    });
    $("forget-key").addEventListener("click", () => {
      key = "";
      $("api-key").value = "";
      status(spec ? "Key forgotten: public routes only." : "Enter your API key to load the routes.");
    });
    load();
  });
})();
