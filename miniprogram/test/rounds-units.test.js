// Entries in residents' words (utils/entries.js): the draw's line, fees, the order's
// states at home and at a collection point, when one may enter again, a beacon's value.
const clock = require('../utils/clock')
const entries = require('../utils/entries')

const base = {
  id: 7, campaign_id: 3, reservation_no: '48213907', status: 'pooled', claim_deadline: null,
  draw: null, order: null, claim_options: [], reenter_at: null, queue: null, pharmacy: null,
}

test('a pooled entry says which draw it is waiting for, or lost, with its rank', () => {
  expect(entries.describe(base).drawText).toBe('下一期摇号时自动参加')
  const sealed = { ...base, draw: { id: 1, number: 2, status: 'committed', quota: 5, rank: null } }
  expect(entries.describe(sealed).drawText).toBe('第2期名单已封存，等待开奖')
  const lost = { ...base, draw: { id: 1, number: 2, status: 'drawn', quota: 5, rank: 9 } }
  expect(entries.describe(lost).drawText).toBe('第2期未中签，排名第9位（名额5个），已自动参加下一期')
})

test('each way to claim names its courier and its fee', () => {
  const won = entries.describe({
    ...base, status: 'won',
    claim_options: [
      { fulfilment: 'postal', fee_fen: 1300, cash_on_delivery: true, courier: '中国邮政', available: true, reason: null },
      { fulfilment: 'express', fee_fen: 0, cash_on_delivery: false, courier: '顺丰', available: true, reason: null },
      { fulfilment: 'collection_point', fee_fen: 0, cash_on_delivery: false, courier: null, available: true, reason: null },
    ],
  })
  expect(won.options.map((o) => o.label)).toEqual([
    '邮寄到家（中国邮政，运费13元，收货时付）', '快递到家（顺丰，免运费）', '到自提点领取（免运费）'])
})

test('an order reads differently at home and at a collection point', () => {
  const order = { status: 'delivered', fee_fen: 0, cash_on_delivery: false, updated_at: '2026-03-01T02:00:00+00:00', collection_point: null }
  expect(entries.describe({ ...base, status: 'claimed', order }).order.statusText).toBe('已签收')
  const atPoint = { ...order, collection_point: { id: 1, name: '药店', address: '路1号', opening_hours: '09:00-18:00' } }
  expect(entries.describe({ ...base, status: 'claimed', order: atPoint }).order.statusText).toBe('已到自提点，请带身份证领取')
})

test('after a win the page says when to enter again, then offers it', () => {
  const soon = new Date(clock.now() + 86400 * 1000).toISOString()
  const waiting = entries.standing([{ ...base, status: 'claimed', reenter_at: soon }], 3)
  expect(waiting.canEnter).toBe(false)
  expect(waiting.reenterText).toMatch(/^\d+月\d+日 \d\d:\d\d$/)
  const past = new Date(clock.now() - 1000).toISOString()
  expect(entries.standing([{ ...base, status: 'lapsed', reenter_at: past }], 3).canEnter).toBe(true)
  expect(entries.standing([{ ...base, status: 'won' }], 3).canEnter).toBe(false)
  expect(entries.standing([], 3)).toMatchObject({ entry: null, canEnter: true })
  // A refused registration may register again; one in the queue may not.
  expect(entries.standing([{ ...base, status: 'rejected' }], 3).canEnter).toBe(true)
  expect(entries.standing([{ ...base, status: 'approved' }], 3).canEnter).toBe(false)
})

test('a beacon round reads as a round and grouped digits; a typed value as it was typed', () => {
  const hex = 'a'.repeat(32) + 'b'.repeat(32)
  expect(entries.publicValue(`drand round 4821 randomness ${hex}`)).toEqual({
    beacon: true, source: '公共随机数信标第4821轮', text: `${'aaaaaaaa '.repeat(4)}${'bbbbbbbb '.repeat(4)}`.trim() })
  expect(entries.publicValue('公证员现场输入 7391 0284')).toEqual({
    beacon: false, source: '开奖时现场公开输入', text: '公证员现场输入 7391 0284' })
  expect(entries.grouped('')).toBe('')
})
