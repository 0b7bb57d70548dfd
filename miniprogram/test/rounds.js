// What the scenarios of every round (rounds-*.test.js, tests/test_miniprogram_rounds.py)
// share: the real-name form filled as a resident fills it, and what a page must never
// show a resident.
const { waitFor, find, text, tap, change } = require('./pages')
const { latestCode } = require('./backend')

// The form on `form` (pages/profile), from the first field to "提交", with the SMS code
// the outbox received; the district is chosen from the campaign's list.
async function fillProfile(form, me) {
  await change(form, '#input-name', { value: me.name })
  await change(form, '#kinds', { value: me.id_kind })
  await change(form, '#input-id_number', { value: me.id_number })
  await change(form, '#input-phone', { value: me.phone })
  await change(form, '#input-address', { value: me.address })
  const names = form.instance.data.districts.map((d) => d.name)
  await change(form, '#district', { value: names.indexOf(me.district) })
  if (form.instance.data.perHousehold) await change(form, '#promise', { value: ['promise'] })
  await tap(form, '#send-code')
  await waitFor(() => form.instance.data.resendIn > 0, 'the resend countdown')
  await change(form, '#input-sms_code', { value: await latestCode(me.phone) })
  await tap(form, '#submit')
  await waitFor(() => form.instance.data.done, 'the profile to be saved')
  return form.instance.data.profile
}

// No web address, no English word, no status code: the page speaks to a resident. The
// parts `except` names (fingerprints meant for comparing) are left out of the check.
function plainChinese(page, except = []) {
  let shown = text(page)
  for (const selector of except) {
    for (const part of page.querySelectorAll(selector)) shown = shown.replace(part.dom.textContent.replace(/\s+/g, ' ').trim(), '')
  }
  expect(shown).not.toMatch(/https?:|www\.|\/public\/|[A-Za-z]{3,}|undefined|null|NaN/)
  return shown
}

module.exports = { fillProfile, plainChinese, find }
