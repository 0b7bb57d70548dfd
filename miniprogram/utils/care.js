// Care mode (关怀模式) for older residents: larger text and touch targets, kept in storage.
const KEY = 'wxb:care'

function on() {
  return wx.getStorageSync(KEY) === true
}

function set(value) {
  wx.setStorageSync(KEY, !!value)
}

module.exports = { on, set }
