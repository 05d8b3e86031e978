// The page's texts come from a JSON data block rendered in its language; `{name}` placeholders
// are filled here. Nothing user-facing is written in the scripts themselves.
export function loadTexts(elementId) {
  const texts = JSON.parse(document.getElementById(elementId).textContent);
  return (key, params = {}) => {
    const text = texts[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
  };
}

export function readConfig(elementId) {
  return JSON.parse(document.getElementById(elementId).textContent);
}

export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]').content;
}

export async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: JSON.stringify(body),
  });
  let data = {};
  try {
    data = await response.json();
  } catch {
    // An answer that is not JSON (a proxy's error page) counts as a failure without details.
  }
  return { status: response.status, ok: response.ok, data };
}
