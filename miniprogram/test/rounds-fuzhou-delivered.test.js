// Fuzhou, fourth part: the couriers' files said delivered; a third winner let the 48
// hours pass. Each page says when its holder may enter again.
const { open, find, save } = require('./pages')
const { as, record } = require('./backend')
const { plainChinese } = require('./rounds')
const format = require('../utils/format')

const shown = {}
afterAll(() => record('fuzhou-delivered', shown))

test('the parcel delivered, with its tracking number, and the day to enter again', async () => {
  const ctx = as('fz-home')
  const page = await open('pages/lottery/lottery', { campaign: ctx.fuzhou.campaign_id })
  const entry = page.instance.data.entry
  expect(find(page, '#order-status').dom.textContent).toBe('已签收')
  expect(find(page, '#order-tracking').dom.textContent).toBe('9812345678901')
  expect(find(page, '#reenter-later').dom.textContent).toContain(format.moment(entry.reenter_at))
  expect(page.querySelector('#enter')).toBeFalsy()
  plainChinese(page)
  save(page, 'rounds-fuzhou-delivered')
  shown['fz-home'] = { reenter_at: entry.reenter_at, tracking_no: entry.order.tracking_no }
})

test('at the collection point too', async () => {
  const ctx = as('fz-far')
  const page = await open('pages/lottery/lottery', { campaign: ctx.fuzhou.campaign_id })
  expect(find(page, '#order-status').dom.textContent).toBe('已到自提点，请带身份证领取')
})

test('a lapsed win says so, and when the next draw may be entered', async () => {
  const ctx = as('fz-late')
  const page = await open('pages/lottery/lottery', { campaign: ctx.fuzhou.campaign_id })
  const entry = page.instance.data.entry
  expect(find(page, '#entry-status').dom.textContent).toBe('中签后未按时下单，已失效')
  expect(find(page, '#lapsed').dom.textContent).toContain('名额退回下一期摇号')
  expect(find(page, '#reenter-later').dom.textContent).toContain(format.moment(entry.reenter_at))
  expect(page.querySelector('#claim')).toBeFalsy()
  plainChinese(page)
  save(page, 'rounds-fuzhou-lapsed')
  shown['fz-late'] = { reenter_at: entry.reenter_at }
})
