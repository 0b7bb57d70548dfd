// jest renders the pages with miniprogram-simulate (WeChat's own WXML/WXSS compiler) in
// jsdom. TDesign ships ES modules, so its vendored files go through babel like ours.
module.exports = {
  testEnvironment: 'jsdom',
  transform: { '\\.js$': 'babel-jest' },
  testMatch: ['<rootDir>/test/**/*.test.js'],
  setupFiles: ['<rootDir>/test/wx.js'],
  testTimeout: 60000,
}
