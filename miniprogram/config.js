// The one setting a deployment changes: where the backend is. Production uses an https
// domain on the mini-program's request allow-list (see README.md).
const BASE_URL = 'http://127.0.0.1:5000'

// In development and tests the base URL can be pointed elsewhere from storage
// (wx.setStorageSync('wxb:base_url', …)); a release build always uses BASE_URL.
function baseUrl() {
  const release = typeof __wxConfig !== 'undefined' && __wxConfig.envVersion === 'release'
  return (!release && wx.getStorageSync('wxb:base_url')) || BASE_URL
}

module.exports = { BASE_URL, baseUrl }
