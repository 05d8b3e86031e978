// Small enhancements of the booking pages; each page works the same without them.

// The details form: after a failed submit, focus goes to the list of problems, so that
// screen reader and keyboard users start there (it is read out as an alert as well).
document.querySelector(".error-summary")?.focus();

// The confirmation: a button that copies the booking reference.
const copy = document.getElementById("copy-reference");
if (copy && navigator.clipboard) {
  copy.hidden = false;
  copy.addEventListener("click", async () => {
    await navigator.clipboard.writeText(document.getElementById("reference").textContent.trim());
    document.getElementById("copy-status").textContent = copy.dataset.copied;
  });
}

// A video appointment: the Join button becomes active when the room opens, without a reload.
// Without JavaScript the page says when it opens, and a reload then shows the link.
const when = document.getElementById("join-when");
const join = document.getElementById("join-button");
if (when && join?.getAttribute("aria-disabled") === "true") {
  const texts = JSON.parse(document.getElementById("join-texts").textContent);
  const open = () => {
    join.setAttribute("href", join.dataset.href);
    join.removeAttribute("aria-disabled");
    join.removeAttribute("role");
    when.textContent = texts.open;
  };
  const wait = Date.parse(when.dataset.opensAt) - Date.now();
  // setTimeout cannot wait longer than about 24.8 days; nobody keeps the page open that long.
  if (wait <= 0) open();
  else if (wait < 2 ** 31 - 1) setTimeout(open, wait);
}
