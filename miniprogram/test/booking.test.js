// A resident's first booking, end to end against the real backend: silent login, the
// real-name form with an SMS code from the outbox, the campaign home, the stores with and
// without location, one tap to book, and the booking with its pickup code and QR.
const fs = require('fs')
const { open, settle, waitFor, find, text, save, tap, change } = require('./pages')
const { as, record, latestCode } = require('./backend')

test('from silent login to a pickup code and its QR', async () => {
  const ctx = as('mp-newcomer')
  const campaign = ctx.fcfs.campaign_id
  const me = ctx.newcomer

  const home = await open('pages/index/index', { campaign })
  expect(wxRuntime.requests.some((r) => r.url.endsWith('/auth/login'))).toBe(true)
  expect(wx.getStorageSync('wxb:token')).not.toBe('')
  expect(text(home)).toContain('正在预约')
  expect(text(home)).toMatch(/剩余\s*\d+ 份/)
  expect(text(home)).toContain('未登记，去登记')
  save(home, 'index')
  await change(home, '#care-switch', { value: true })
  expect(find(home, '.page').dom.className).toContain('care')
  save(home, 'index-care')
  await change(home, '#care-switch', { value: false })
  await tap(home, '#menu-profile', 'click')
  expect(wxRuntime.navigations.pop().url).toBe(`/pages/profile/profile?campaign=${campaign}`)

  const form = await open('pages/profile/profile', { campaign })
  save(form, 'profile-empty')
  await tap(form, '#submit')
  await settle(form)
  expect(find(form, '#error-name').dom.textContent).not.toBe('')
  expect(find(form, '#error-phone').dom.textContent).not.toBe('')
  save(form, 'profile-errors')

  // Typed as people type them: the form sends them as the API takes them.
  await change(form, '#input-name', { value: ` ${me.name} ` })
  await change(form, '#kinds', { value: me.id_kind })
  await change(form, '#input-id_number', { value: `${me.id_number.slice(0, 6)} ${me.id_number.slice(6).toLowerCase()}` })
  await change(form, '#input-phone', { value: `+86 ${me.phone.slice(0, 3)}-${me.phone.slice(3, 7)}-${me.phone.slice(7)}` })
  await tap(form, '#send-code')
  await waitFor(() => form.instance.data.resendIn > 0, 'the resend countdown')
  expect(text(form)).toMatch(/\d+秒后重发/)
  const code = await latestCode(me.phone)
  await change(form, '#input-sms_code', { value: code })
  await tap(form, '#submit')
  await waitFor(() => form.instance.data.done, 'the profile to be saved')
  expect(text(form)).toContain('已完成实名登记')
  expect(text(form)).not.toContain(me.id_number) // masked
  save(form, 'profile-done')

  const declined = await open('pages/stores/stores', { campaign })
  expect(find(declined, '#no-location').dom.textContent).toContain('按区列出')
  const districts = declined.instance.data.groups.map((g) => g.name)
  expect(districts.length).toBeGreaterThan(0)
  await change(declined, '#search', { value: '不存在的药店名' })
  expect(text(declined)).toContain('没有找到')
  await change(declined, '#search', { value: '' })
  save(declined, 'stores-by-district')

  wxRuntime.location = { latitude: 34.7512, longitude: 113.6512 }
  const nearby = await open('pages/stores/stores', { campaign })
  const listed = nearby.instance.data.groups[0].stores
  expect(listed[0].distanceText).toMatch(/米|公里/)
  expect(listed.map((s) => s.distance_m)).toEqual([...listed.map((s) => s.distance_m)].sort((a, b) => a - b))
  save(nearby, 'stores-nearby')
  const store = listed[0]
  await tap(nearby, `#store-${store.id}`, 'click')
  expect(wxRuntime.navigations.pop().url).toBe(`/pages/book/book?campaign=${campaign}&store=${store.id}`)

  const book = await open('pages/book/book', { campaign, store: store.id })
  expect(text(book)).toContain(store.name)
  save(book, 'book')
  await tap(book, '#book')
  await settle(book)
  // The templates are the deployment's, served by the backend (its development ids here).
  expect(wxRuntime.subscribeRequests).toEqual([['dev-booking_confirmed', 'dev-pickup_reminder']])
  await waitFor(() => wxRuntime.requests.find((r) => r.url.endsWith('/me/subscriptions')), 'the subscription choice')
  const choice = wxRuntime.requests.find((r) => r.url.endsWith('/me/subscriptions'))
  expect(choice.data.accepted).toEqual(['booking_confirmed', 'pickup_reminder'])
  const done = wxRuntime.navigations.pop()
  expect(done.how).toBe('redirectTo')
  const id = Number(/id=(\d+)/.exec(done.url)[1])

  const detail = await open('pages/booking/booking', { id, new: '1' })
  const booking = detail.instance.data.booking
  expect(find(detail, '#pickup-code').dom.textContent).toBe(booking.pickup_code)
  expect(find(detail, '#reservation-no').dom.textContent).toMatch(/^\d{8}$/)
  expect(text(detail)).toContain('待取货')
  const qr = detail.instance.data.qr
  expect(fs.readFileSync(qr).subarray(1, 4).toString()).toBe('PNG')
  await tap(detail, '#map')
  expect(wxRuntime.openedLocations[0]).toMatchObject({ name: store.name })
  save(detail, 'booking')

  const mine = await open('pages/bookings/bookings')
  expect(text(mine)).toContain(booking.reservation_no)
  save(mine, 'bookings')

  record('booking', { id, reservation_no: booking.reservation_no, pickup_code: booking.pickup_code, sms_code: code })
})
