// Fuzhou, first part: from the first login through the real-name form to an entry; three
// neighbours who filled the form before enter too (tests/test_miniprogram_rounds.py).
const { open, settle, find, text, save, tap } = require('./pages')
const { as, record } = require('./backend')
const { fillProfile, plainChinese } = require('./rounds')

const shown = {}
afterAll(() => record('fuzhou-enter', shown))

test('a first login is sent to the real-name form, then enters and gets its number', async () => {
  const ctx = as('fz-home')
  const campaign = ctx.fuzhou.campaign_id
  let page = await open('pages/lottery/lottery', { campaign })
  expect(text(page)).toContain('您还没有登记')
  await tap(page, '#enter')
  await settle(page)
  expect(wxRuntime.navigations.pop().url).toBe(`/pages/profile/profile?campaign=${campaign}`)
  expect(find(page, '#refusal').dom.textContent).toContain('实名')

  const form = await open('pages/profile/profile', { campaign })
  const profile = await fillProfile(form, ctx.home)
  expect(profile.district_name).toBe('福州市鼓楼区')

  page = await open('pages/lottery/lottery', { campaign })
  wxRuntime.subscribeRequests = []
  await tap(page, '#enter')
  await settle(page)
  // The win's message (48 hours to claim) is asked for at the tap that enters.
  expect(wxRuntime.subscribeRequests).toEqual([['dev-draw_won']])
  const entry = page.instance.data.entry
  expect(find(page, '#reservation-no').dom.textContent).toMatch(/^\d{8}$/)
  expect(find(page, '#entry-status').dom.textContent).toBe('等待摇号')
  expect(find(page, '#draw-text').dom.textContent).toBe('下一期摇号时自动参加')
  plainChinese(page)
  save(page, 'rounds-fuzhou-entered')
  shown['fz-home'] = { id: entry.id, reservation_no: entry.reservation_no }
})

test.each(['fz-far', 'fz-late', 'fz-lose'])('%s, verified before, enters with one tap', async (who) => {
  const ctx = as(who)
  const page = await open('pages/lottery/lottery', { campaign: ctx.fuzhou.campaign_id })
  await tap(page, '#enter')
  await settle(page)
  expect(find(page, '#entry-status').dom.textContent).toBe('等待摇号')
  const entry = page.instance.data.entry
  shown[who] = { id: entry.id, reservation_no: entry.reservation_no }
})
