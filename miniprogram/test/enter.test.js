// A lottery entry (Fuzhou) and a queue registration (Shanghai), against the real backend.
const { open, settle, waitFor, find, text, save, tap, change } = require('./pages')
const { as, record, latestCode } = require('./backend')

const shown = {}
afterAll(() => record('enter', shown))

test('a resident without a profile is sent to the real-name form', async () => {
  const ctx = as('mp-nobody')
  const page = await open('pages/lottery/lottery', { campaign: ctx.lottery.campaign_id })
  await tap(page, '#enter')
  await settle(page)
  expect(wxRuntime.navigations.pop().url).toContain('/pages/profile/profile')
  expect(find(page, '#refusal').dom.textContent).toContain('实名')
})

test('entering the lottery gives an 8-digit number and the draw times', async () => {
  const ctx = as('mp-lottery')
  const page = await open('pages/lottery/lottery', { campaign: ctx.lottery.campaign_id })
  expect(text(page)).toContain('您还没有登记')
  expect(text(page)).toMatch(/摇号时间|摇号一次/)
  await tap(page, '#enter')
  await settle(page)
  const entry = page.instance.data.entry
  expect(find(page, '#reservation-no').dom.textContent).toMatch(/^\d{8}$/)
  expect(find(page, '#entry-status').dom.textContent).toBe('等待摇号')
  save(page, 'lottery-entered')
  shown.lottery = { id: entry.id, reservation_no: entry.reservation_no }
})

test('a household gives its address and picks its district from the list', async () => {
  const ctx = as('mp-household')
  const me = ctx.household
  const form = await open('pages/profile/profile', { campaign: ctx.queue.campaign_id })
  expect(find(form, '#district-chosen').dom.textContent).toContain('请选择')
  const names = form.instance.data.districts.map((d) => d.name)
  expect(names).toContain('浦东新区')
  expect(names).not.toContain('闸北区') // retired in 2015: not offered
  await change(form, '#input-name', { value: me.name })
  await change(form, '#kinds', { value: me.id_kind })
  await change(form, '#input-id_number', { value: me.id_number })
  await change(form, '#input-phone', { value: me.phone })
  await change(form, '#input-address', { value: me.address })
  await tap(form, '#send-code')
  await waitFor(() => form.instance.data.resendIn > 0, 'the resend countdown')
  await change(form, '#input-sms_code', { value: await latestCode(me.phone) })
  await change(form, '#promise', { value: ['promise'] })
  await tap(form, '#submit')
  await settle(form)
  expect(find(form, '#error-district_code').dom.textContent).toContain('请选择')
  save(form, 'profile-household-no-district')

  await change(form, '#district', { value: names.indexOf(me.district) })
  expect(find(form, '#district-chosen').dom.textContent).toBe(me.district)
  save(form, 'profile-household')
  await tap(form, '#submit')
  await waitFor(() => form.instance.data.done, 'the profile to be saved')
  expect(find(form, '#done-district').dom.textContent).toBe('上海市浦东新区')
  save(form, 'profile-household-done')
  shown.household = { district_code: form.instance.data.profile.district_code }
})

test('a household registers for a pharmacy and waits for the review', async () => {
  const ctx = as('mp-queue')
  const page = await open('pages/queue/queue', { campaign: ctx.queue.campaign_id })
  await change(page, '#stores', { value: ctx.queue.store_id })
  save(page, 'queue-register')
  await tap(page, '#register-button')
  await settle(page)
  expect(find(page, '#entry-status').dom.textContent).toBe('待社区审核')
  save(page, 'queue-pending')
  shown.queue = { id: page.instance.data.entry.id }
})
