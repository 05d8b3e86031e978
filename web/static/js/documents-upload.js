// The documents section of the appointment page (manage/_documents.html). Without this script
// the form is posted and the page comes back; with it the file is sent by XMLHttpRequest with a
// progress bar, the outcome is announced in a polite live region, and the list is fetched
// again, then every 2 seconds while a document is being checked for viruses (at most 2 min).

const POLL_MS = 2000;
const POLL_LIMIT_MS = 120000;
const SECTION_URL = "/termin/unterlagen/abschnitt";

const section = document.getElementById("unterlagen");
const form = document.getElementById("documents-upload");
const live = document.getElementById("documents-live");

// After a refused upload without this script's help the page comes back with the problems:
// start there, as every other form of the site does.
section?.querySelector(".error-summary")?.focus();

const say = (text) => {
  if (live) live.textContent = text;
};

const checking = () => document.getElementById("documents-state")?.dataset.checking === "yes";

async function refresh() {
  const answer = await fetch(SECTION_URL, { credentials: "same-origin" });
  if (!answer.ok) return false;
  const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
  const state = fresh.getElementById("documents-state");
  if (state) document.getElementById("documents-state").replaceWith(document.adoptNode(state));
  // The named documents still missing, in the form's choice; the choice made stays if it can.
  const choice = document.getElementById("documents-requirement");
  const freshChoice = fresh.getElementById("documents-requirement");
  if (choice && freshChoice) {
    const chosen = choice.value;
    choice.replaceChildren(...Array.from(freshChoice.options, (o) => document.adoptNode(o)));
    choice.value = Array.from(choice.options).some((o) => o.value === chosen) ? chosen : "";
  }
  return true;
}

let polling = null;
function poll(started = Date.now()) {
  clearTimeout(polling);
  if (!checking() || Date.now() - started > POLL_LIMIT_MS) return;
  polling = setTimeout(async () => {
    const before = checking();
    if ((await refresh()) && before && !checking() && form) say(form.dataset.checked);
    poll(started);
  }, POLL_MS);
}

function showError(field, message) {
  let summary = section.querySelector(".error-summary");
  if (!summary) {
    summary = document.createElement("div");
    summary.className = "error-summary";
    summary.setAttribute("role", "alert");
    summary.tabIndex = -1;
    section.querySelector("h2").after(summary);
  }
  const item = document.createElement("li");
  const link = document.createElement("a");
  link.href = `#${field}`;
  link.textContent = message;
  item.append(link);
  const list = document.createElement("ul");
  list.append(item);
  summary.replaceChildren(list);
  summary.focus();
}

function clearError() {
  section.querySelector(".error-summary")?.remove();
  for (const field of form.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
  for (const message of form.querySelectorAll(".field-error")) message.remove();
}

if (form && live) {
  const box = document.getElementById("documents-progress");
  const bar = document.getElementById("documents-progress-bar");
  const percent = document.getElementById("documents-progress-text");
  // Not `disabled` while sending: the focus would leave the button for the page's start.
  let sending = false;
  let announced = -1;

  const progress = (value) => {
    bar.value = value;
    percent.textContent = `${value} %`;
    // Every quarter, not every event: a screen reader would read nothing else.
    const quarter = Math.floor(value / 25);
    if (quarter !== announced) {
      announced = quarter;
      say(form.dataset.sending.replace("{percent}", String(value)));
    }
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (sending) return;
    clearError();
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) progress(Math.round((e.loaded / e.total) * 100));
    });
    request.addEventListener("load", async () => {
      box.hidden = true;
      sending = false;
      let answer = {};
      try {
        answer = JSON.parse(request.responseText);
      } catch {
        answer = { field: "documents-file", message: form.dataset.failed };
      }
      if (request.status === 201) {
        form.reset();
        await refresh();
        say(form.dataset.sent);
        poll();
      } else {
        say("");
        showError(answer.field || "documents-file", answer.message || form.dataset.failed);
      }
    });
    request.addEventListener("error", () => {
      box.hidden = true;
      sending = false;
      showError("documents-file", form.dataset.failed);
    });
    announced = -1;
    bar.value = 0;
    percent.textContent = "0 %";
    box.hidden = false;
    sending = true;
    request.send(new FormData(form));
  });
}

poll();
