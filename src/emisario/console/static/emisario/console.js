// The console's few behaviours, bound from this file so that no page needs inline script: the
// production Content-Security-Policy runs only this site's own files, never onchange="..." or
// onsubmit="..." attributes. Markup asks for a behaviour with a data- attribute.

// <select data-autosubmit>: choosing an option submits its form (language, company picker).
document.addEventListener("change", (event) => {
  const field = event.target;
  if (field instanceof HTMLSelectElement && field.hasAttribute("data-autosubmit") && field.form) {
    field.form.submit();
  }
});

// <form data-confirm="question">: ask first, send only when the user agrees (Eliminar).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});
