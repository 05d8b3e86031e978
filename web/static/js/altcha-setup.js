// The ALTCHA widget with our texts and our worker, after the vendored widget module
// (web/templates/_altcha.html loads both; module scripts run in document order).
const registry = globalThis.$altcha;
const texts = JSON.parse(document.getElementById("altcha-texts").textContent);

for (const widget of document.querySelectorAll("altcha-widget")) {
  const language = widget.getAttribute("language");
  const worker = widget.dataset.worker;
  // The vendored "external" build has no built-in worker: ours comes from our origin.
  for (const algorithm of ["PBKDF2/SHA-256", "PBKDF2/SHA-384", "PBKDF2/SHA-512"]) {
    registry.algorithms.set(algorithm, () => new Worker(worker));
  }
  registry.i18n.set(language, { ...(registry.i18n.get("en") || {}), ...texts });

  // The widget's label changes silently; a live region tells screen readers.
  const status = widget.parentElement.querySelector("[data-altcha-status]");
  widget.addEventListener("statechange", (event) => {
    const message = {
      verifying: texts.verifying,
      verified: texts.verified,
      error: texts.error,
      expired: texts.expired,
    }[event.detail.state];
    if (status && message) status.textContent = message;
  });
  // An expired proof is dropped, so that sending the form solves a fresh one.
  widget.addEventListener("expired", () => widget.reset());
  repairEmptyAttributes(widget);
}

// The widget (altcha 3.2.2, no option for either) renders `dir=""` on its box and `name=""` on
// its checkbox: invalid HTML that checkers and assistive technology trip over. The box takes
// the page's direction; the checkbox loses its name (the proof travels in the hidden field
// `altcha`, the checkbox is never sent). Watched, because the widget re-renders both.
function repairEmptyAttributes(widget) {
  const repair = () => {
    for (const element of widget.querySelectorAll('[dir=""]')) {
      element.dir = document.documentElement.dir || "ltr";
    }
    for (const element of widget.querySelectorAll('[name=""]')) element.removeAttribute("name");
  };
  repair();
  new MutationObserver(repair).observe(widget, {
    subtree: true,
    childList: true,
    attributes: true,
    attributeFilter: ["dir", "name"],
  });
}
