// Fuzhou, last part: ten days after their wins, the one who received and the one who
// lapsed enter the next draw; "My bookings" lists both entries.
const { open, settle, find, text, save, tap } = require('./pages')
const { as, record } = require('./backend')
const { plainChinese } = require('./rounds')

const shown = {}
afterAll(() => record('fuzhou-next', shown))

test('after the wait the page offers the next draw, and keeps the past one', async () => {
  const ctx = as('fz-home')
  const page = await open('pages/lottery/lottery', { campaign: ctx.fuzhou.campaign_id })
  const before = page.instance.data.entry.reservation_no
  expect(page.querySelector('#reenter-later')).toBeFalsy()
  expect(find(page, '#next-round').dom.textContent).toContain('登记参加下一期摇号')
  plainChinese(page)
  save(page, 'rounds-fuzhou-next-round')
  await tap(page, '#enter')
  await settle(page)
  expect(wxRuntime.subscribeRequests).toEqual([['dev-draw_won']])
  expect(find(page, '#entry-status').dom.textContent).toBe('等待摇号')
  const now = find(page, '#reservation-no').dom.textContent
  expect(now).toMatch(/^\d{8}$/)
  expect(now).not.toBe(before)
  expect(find(page, '#history').dom.textContent).toContain(before)
  expect(find(page, '#history').dom.textContent).toContain('已中签并下单')
  plainChinese(page)
  save(page, 'rounds-fuzhou-reentered')
  shown['fz-home'] = { reservation_no: now }

  const mine = await open('pages/bookings/bookings')
  const listed = mine.instance.data.draws
  expect(listed.map((e) => e.reservation_no)).toEqual([now, before])
  expect(text(mine)).toContain('摇号')
  plainChinese(mine)
  save(mine, 'rounds-fuzhou-bookings')
  await tap(mine, `#entry-${listed[1].id}`, 'click')
  expect(wxRuntime.navigations.pop().url).toBe(`/pages/lottery/lottery?campaign=${ctx.fuzhou.campaign_id}`)
})

test('the lapsed winner enters again too', async () => {
  const ctx = as('fz-late')
  const page = await open('pages/lottery/lottery', { campaign: ctx.fuzhou.campaign_id })
  await tap(page, '#enter')
  await settle(page)
  expect(find(page, '#entry-status').dom.textContent).toBe('等待摇号')
  shown['fz-late'] = { reservation_no: page.instance.data.entry.reservation_no }
})
