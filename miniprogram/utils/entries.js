// Lottery and queue entries in residents' words.
const format = require('./format')

const NAMES = {
  pooled: '等待摇号', won: '已中签，请在截止前下单', claimed: '已中签并下单', lapsed: '中签未按时下单，已失效',
  withdrawn: '已撤回', pending: '待社区审核', approved: '审核通过，等待到货', rejected: '未通过审核',
  released: '可以购买了', redeemed: '已购买',
}
const FULFILMENT = { express: '快递到家', postal: '邮寄到家', collection_point: '到自提点领取', pickup: '到药店领取' }

function describe(entry) {
  return {
    ...entry,
    statusText: NAMES[entry.status] || entry.status,
    deadlineText: entry.claim_deadline ? format.moment(entry.claim_deadline) : '',
    fulfilmentText: FULFILMENT[entry.fulfilment] || '',
  }
}

module.exports = { describe, FULFILMENT }
