// Progressive enhancements for gatehouse pages. Every page works without
// this script; it only adds conveniences.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Copy buttons: <button data-copy="element-id">Copy</button>.
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      if (!source) return;
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        const label = button.textContent;
        button.textContent = "Copied";
        setTimeout(() => { button.textContent = label; }, 1500);
      } catch {
        button.textContent = "Select and copy";
      }
    });
  }

  // A confirmation parameter (?done=...) belongs to the redirect that
  // shows it once. Drop it from the address, so that a bookmark or a
  // reload of the page does not carry it.
  const url = new URL(window.location.href);
  if (url.searchParams.has("done")) {
    url.searchParams.delete("done");
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  }

  // Forms that submit themselves, such as the SAML HTTP-POST binding.
  for (const form of document.querySelectorAll("form[data-autosubmit]")) {
    form.submit();
  }
});
