// Fuzhou, second part: the operators sealed the pool for draw 1; it is not drawn yet.
const { open, settle, find, save, tap } = require('./pages')
const { as, record } = require('./backend')
const { plainChinese } = require('./rounds')

const shown = {}
afterAll(() => record('fuzhou-sealed', shown))

test('the sealed list shows on the page, and the draw inside the mini-program', async () => {
  const ctx = as('fz-lose')
  const campaign = ctx.fuzhou.campaign_id
  const page = await open('pages/lottery/lottery', { campaign })
  expect(find(page, '#draw-text').dom.textContent).toBe('第1期名单已封存，等待开奖')
  plainChinese(page)
  save(page, 'rounds-fuzhou-sealed')
  await tap(page, '#open-draw')
  expect(wxRuntime.navigations.pop().url).toBe(`/pages/draw/draw?id=${ctx.draw_id}&campaign=${campaign}`)

  const draw = await open('pages/draw/draw', { id: ctx.draw_id, campaign })
  await settle(draw)
  expect(find(draw, '#not-drawn').dom.textContent).toContain('尚未开奖')
  expect(find(draw, '#quota').dom.textContent).toBe('5个')
  expect(find(draw, '.line-no').dom.textContent).toBe(page.instance.data.entry.reservation_no)
  expect(find(draw, '.line-result').dom.textContent).toBe('已在本期名单中，等待开奖')
  plainChinese(draw, ['#fingerprints'])
  save(draw, 'rounds-draw-sealed')
  shown.entries_count = draw.instance.data.draw.entries_count
  expect(find(draw, '#entries-count').dom.textContent).toBe(`${shown.entries_count}人`)
})
