// The console's few behaviours that HTML cannot say, loaded on every page (no build step).

// The pharmacy counter after an answer: a redemption (200) empties the form for the next
// resident and refreshes the day; a refusal keeps what was typed and selects the field the
// refusal is about (the code, or the ID's last four), so a new scan or digits replace it.
function counterAnswered(form, event) {
  if (event.detail.xhr.status === 200) {
    form.reset()
    form.code.focus()
    htmx.trigger('#day', 'refresh')
    return
  }
  const named = document.querySelector('#result [data-field]')
  const field = (named && form.elements[named.dataset.field]) || form.code
  field.select()
}

// After signing in again in another tab, the server hands this page the new session's
// form token (HX-Trigger "csrf-token"): every form and htmx request of the page uses it.
document.addEventListener('csrf-token', (event) => {
  const token = event.detail.value
  document.querySelectorAll('input[name=csrf_token]').forEach((input) => { input.value = token })
  document.body.setAttribute('hx-headers', JSON.stringify({ 'X-CSRFToken': token }))
})
