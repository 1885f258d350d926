// tablelog web viewer: the only script, optional. Pages work without it.
// A "Copy" button beside each Python snippet.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const target = document.getElementById(button.dataset.copy);
    if (!target || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(target.textContent);
        button.textContent = "Copied";
      } catch (err) {
        button.textContent = "Copy failed";
      }
    });
  }
});
