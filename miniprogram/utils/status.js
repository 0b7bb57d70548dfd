// A booking's status in the words and colours residents see everywhere.
const NAMES = { confirmed: '待取货', collected: '已取货', cancelled: '已取消', expired: '已过期' }
const THEMES = { confirmed: 'primary', collected: 'success', cancelled: 'default', expired: 'warning' }

function describe(status) {
  return { statusText: NAMES[status] || status, tagTheme: THEMES[status] || 'default' }
}

module.exports = { describe }
