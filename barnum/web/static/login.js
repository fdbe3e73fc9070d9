// barnum web sign-in: the address bar never keeps a secret.  The printed link's
// one-time code is taken out of the URL (history.replaceState) and posted at once.
"use strict";
(function () {
  if (location.search) history.replaceState(null, "", "/login");
  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("code-login");
    if (form) form.submit();
  });
})();
