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

// <select data-auth-method>: a password or OAuth 2.0. Elements marked data-shown-for="password"
// or "oauth" show for their choice only (Contraseña gives way to the provider and Conectar).
document.addEventListener("change", (event) => {
  const field = event.target;
  if (!(field instanceof HTMLSelectElement) || !field.hasAttribute("data-auth-method")) return;
  const oauth = field.value !== "password";
  document.querySelectorAll("[data-shown-for]").forEach((element) => {
    element.hidden = (element.getAttribute("data-shown-for") === "oauth") !== oauth;
  });
});
