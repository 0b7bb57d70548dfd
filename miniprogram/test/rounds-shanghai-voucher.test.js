// Shanghai, fourth part: the next batch reached the household: its voucher, which names
// the pharmacy where it is good.
const fs = require('fs')
const { open, find, save } = require('./pages')
const { as, record } = require('./backend')
const { plainChinese } = require('./rounds')

const shown = {}
afterAll(() => record('shanghai-voucher', shown))

test('the voucher with its QR, expiry and the pharmacy by name, address and hours', async () => {
  const ctx = as('sh-home')
  const page = await open('pages/queue/queue', { campaign: ctx.shanghai.campaign_id })
  expect(find(page, '#entry-status').dom.textContent).toBe('可以购买了')
  const code = find(page, '#voucher-code').dom.textContent
  expect(code).toMatch(/^\d{6}$/)
  expect(find(page, '#voucher-expiry').dom.textContent).toMatch(/^\d+月\d+日 \d\d:\d\d$/)
  expect(fs.readFileSync(page.instance.data.qr).subarray(1, 4).toString()).toBe('PNG')
  plainChinese(page)
  save(page, 'rounds-shanghai-voucher')
  shown.voucher_code = code
  shown.pharmacy = {
    name: find(page, '#pharmacy-name').dom.textContent,
    address: find(page, '#pharmacy-address').dom.textContent.replace('（地图）', ''),
    opening_hours: find(page, '#pharmacy-hours').dom.textContent,
  }
})
