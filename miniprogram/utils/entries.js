// Lottery and queue entries in residents' words: each state, the draw one took part in,
// the ways to claim a win and what each costs, the order on its way, when one may enter
// again, and a registration's pharmacy and place in line.
const format = require('./format')
const clock = require('./clock')

const NAMES = {
  pooled: '等待摇号', won: '已中签，请在截止前下单', claimed: '已中签并下单', lapsed: '中签后未按时下单，已失效',
  withdrawn: '已撤回', pending: '待社区审核', approved: '审核通过，排队等待到货', rejected: '未通过审核',
  released: '可以购买了', redeemed: '已购买',
}
// The same, short enough for a tag in a list.
const SHORT = {
  pooled: '等待摇号', won: '已中签', claimed: '已下单', lapsed: '已失效', withdrawn: '已撤回',
  pending: '待审核', approved: '排队中', rejected: '未通过', released: '可购买', redeemed: '已购买',
}
const ORDER_SHORT = { shipped: '配送中', delivered: '已送达' }
const THEMES = {
  pooled: 'primary', won: 'success', claimed: 'success', lapsed: 'warning', withdrawn: 'default',
  pending: 'primary', approved: 'primary', rejected: 'danger', released: 'success', redeemed: 'default',
}
const FULFILMENT = { express: '快递到家', postal: '邮寄到家', collection_point: '到自提点领取', pickup: '到药店领取' }
const ORDER = { pending: '待发货', shipped: '已发货，正在配送', delivered: '已签收', failed: '投递失败，请联系快递' }
// At a collection point "delivered" means it has arrived there, waiting for its holder.
const AT_POINT = { pending: '待发货', shipped: '正在送往自提点', delivered: '已到自提点，请带身份证领取', failed: '未能送到自提点，请联系活动热线' }
const LIVE = ['pooled', 'won', 'pending', 'approved', 'released']

function fee(fen, cashOnDelivery) {
  if (!fen) return '免运费'
  return `运费${format.yuan(fen)}元${cashOnDelivery ? '，收货时付' : ''}`
}

// "第3期" and what it meant for this entry.
function drawText(entry) {
  const draw = entry.draw
  if (!draw) return entry.status === 'pooled' ? '下一期摇号时自动参加' : ''
  if (draw.status === 'committed') return `第${draw.number}期名单已封存，等待开奖`
  const rank = draw.rank ? `，排名第${draw.rank}位` : ''
  if (entry.status === 'pooled') return `第${draw.number}期未中签${rank}（名额${draw.quota}个），已自动参加下一期`
  return `第${draw.number}期中签${rank}`
}

function describe(entry) {
  const order = entry.order
  return {
    ...entry,
    live: LIVE.includes(entry.status),
    statusText: NAMES[entry.status] || '状态更新中',
    shortText: (entry.status === 'claimed' && order && ORDER_SHORT[order.status]) || SHORT[entry.status] || '查看',
    tagTheme: THEMES[entry.status] || 'default',
    deadlineText: entry.claim_deadline ? format.moment(entry.claim_deadline) : '',
    fulfilmentText: FULFILMENT[entry.fulfilment] || '',
    drawText: drawText(entry),
    order: order && {
      ...order,
      statusText: (order.collection_point ? AT_POINT : ORDER)[order.status] || '处理中',
      feeText: fee(order.fee_fen, order.cash_on_delivery),
      updatedText: format.moment(order.updated_at),
    },
    options: (entry.claim_options || []).map((o) => ({
      ...o,
      label: `${FULFILMENT[o.fulfilment] || '其他方式'}（${o.courier ? `${o.courier}，` : ''}${fee(o.fee_fen, o.cash_on_delivery)}）`,
    })),
    releasedText: entry.released_at ? format.moment(entry.released_at) : '',
    redeemedText: entry.redeemed_at ? format.moment(entry.redeemed_at) : '',
    queue: entry.queue && {
      ...entry.queue,
      lastText: entry.queue.last_release_at ? format.moment(entry.queue.last_release_at) : '',
      // Of the households released or still waiting, the share released so far.
      percent: Math.round((100 * entry.queue.released) / Math.max(1, entry.queue.released + entry.queue.waiting)),
    },
  }
}

// Long hexadecimal digests read in groups of eight, as a person compares them aloud.
function grouped(hex) {
  return ((hex || '').match(/.{1,8}/g) || []).join(' ')
}

// A draw's public value as residents are told it: typed at the draw by the notary, or a
// public randomness beacon's round ("drand round 123 randomness 9f…", its digits grouped).
const BEACON = /^drand round (\d+) randomness ([0-9a-f]+)$/

function publicValue(value) {
  const beacon = BEACON.exec(value || '')
  if (beacon) return { beacon: true, source: `公共随机数信标第${beacon[1]}轮`, text: grouped(beacon[2]) }
  return { beacon: false, source: '开奖时现场公开输入', text: value }
}

// A campaign's entries, newest first, as a page shows them: the one that counts now, the
// ones before it, and whether (or from when) the person may enter again.
function standing(all, campaignId) {
  const mine = all.filter((e) => e.campaign_id === campaignId && e.status !== 'withdrawn').map(describe)
  const current = mine[0] || null
  const reenterAt = current && !current.live && current.reenter_at
  const later = reenterAt && Date.parse(reenterAt) > clock.now()
  return {
    entry: current,
    history: mine.slice(1),
    canEnter: !current || (!current.live && !later),
    reenterText: later ? format.moment(reenterAt) : '',
  }
}

module.exports = { describe, standing, fee, grouped, publicValue, FULFILMENT, NAMES }
