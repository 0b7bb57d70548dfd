// The app: a silent login at start, and WeChat's update manager asking the resident to
// restart into a new version (Zhengzhou's "同意更新"), so nobody books under old rules.
const { login } = require('./utils/request')

App({
  onLaunch() {
    login().catch(() => {
      // the first page logs in again when it loads; nothing to show yet
    })
    if (wx.canIUse && wx.canIUse('getUpdateManager')) {
      const manager = wx.getUpdateManager()
      manager.onUpdateReady(() => {
        wx.showModal({
          title: '有新版本',
          content: '新版本已经准备好（可能包含预约规则的调整），重启后使用新版本。',
          confirmText: '同意更新',
          showCancel: false,
          success: () => manager.applyUpdate(),
        })
      })
    }
  },
})
