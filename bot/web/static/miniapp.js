// The Telegram Mini App: Telegram hands this page its signed initData in the address's fragment
// (#tgWebAppData=...). Every call sends it back in a header; the server checks the signature.
"use strict";
(function () {
  const prefix = "/web/app";
  const fragment = new URLSearchParams(location.hash.slice(1));
  const initData = fragment.get("tgWebAppData") || "";
  let token = "";
  const $ = (id) => document.getElementById(id);
  // The words this script writes, in the page's language: the server puts them on the page (#texts).
  let texts = {};
  const say = (name, values) => (texts[name] || name).replace(/\{(\w+)\}/g, (_, key) => String((values || {})[key] ?? ""));

  function call(path, body) {
    const options = {headers: {"X-Telegram-Init-Data": initData}, cache: "no-store"};
    if (body) {
      body.token = token;
      options.method = "POST";
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(prefix + path, options).then((r) => r.json().then((data) => {
      if (data.token) token = data.token;
      if (!r.ok) throw new Error(data.error || say("error", {status: r.status}));
      return data;
    }));
  }

  function identifier(key) {
    const code = document.createElement("code");
    code.className = "ident";
    for (const [text, hit] of key.segments) {
      const part = document.createElement(hit ? "mark" : "span");
      part.textContent = text;
      code.appendChild(part);
    }
    return code;
  }

  function tier(name, shown) {
    const span = document.createElement("span");
    span.className = "tier tier-" + name.toLowerCase();
    span.textContent = shown || name;
    return span;
  }

  function showPulls(data) {
    const list = $("pulls");
    list.replaceChildren();
    for (const p of data.pulls) {
      const item = document.createElement("li");
      item.dataset.tier = p.tier;
      const line = document.createElement("p");
      line.append(tier(p.tier, p.tier_name), " " + p.rarity + " · ", Object.assign(document.createElement("code"), {textContent: p.pattern}));
      item.append(line, identifier(p));
      const when = document.createElement("p");
      when.className = "who";
      when.textContent = p.at + (p.where ? " · " + p.where : "");
      item.append(when);
      if (p.card) {
        fetch(prefix + "/card/" + encodeURIComponent(p.ref) + ".png", {headers: {"X-Telegram-Init-Data": initData}})
          .then((r) => (r.ok ? r.blob() : null)).then((blob) => {
            if (!blob) return;
            const img = document.createElement("img");
            img.alt = say("card", {tier: p.tier_name || p.tier});
            img.src = URL.createObjectURL(blob);
            item.prepend(img);
          });
      }
      list.append(item);
    }
  }

  function load() {
    return call("/me").then((data) => {
      $("status").textContent = data.summary;
      $("pull-box").hidden = false;
      $("shown").checked = data.shown;
      showPulls(data);
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    texts = JSON.parse($("texts").textContent || "{}");
    if (!initData) return;
    load().catch((err) => { $("status").textContent = say("not_signed_in", {why: err.message}); $("status").className = "refusal"; });
    $("pull-form").addEventListener("submit", (event) => {
      event.preventDefault();
      $("pull-result").textContent = say("pulling");
      call("/pull", {command: $("command").value}).then((data) => {
        const best = data.keys[0];
        $("pull-result").replaceChildren(tier(best.tier, best.tier_name), " " + best.rarity + " ", identifier(best), " · " + data.note);
        return load();
      }).catch((err) => { $("pull-result").textContent = err.message; });
    });
    $("shown").addEventListener("change", () => {
      call("/visibility", {shown: $("shown").checked}).catch((err) => { $("status").textContent = err.message; });
    });
  });
})();
