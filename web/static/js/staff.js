// Copy buttons of the staff pages: shown only where scripts run; the link stays selectable
// without them. Texts come from the button's data attributes (translated on the server).
for (const button of document.querySelectorAll("[data-copy]")) {
  const source = document.getElementById(button.dataset.copy);
  const status = button.parentElement.querySelector("[role=status]");
  if (!source) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(source.value);
      status.textContent = button.dataset.copied;
    } catch {
      source.select();
      status.textContent = button.dataset.failed;
    }
  });
}
