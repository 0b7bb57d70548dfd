// The real-name form: name, document, phone with an SMS code (60-second resend countdown),
// and the address, its district (chosen from the campaign's city's list, never typed: the
// residents' committee finds its residents by that code) and the household promise when
// the campaign needs them. Each field's error is shown beside it, from `error.fields`,
// whatever the status. What is typed is sent in the form the API takes (utils/canonical).
const canonical = require('../../utils/canonical')
const { request } = require('../../utils/request')
const page = require('../../behaviors/page')

const KINDS = [
  { value: 'resident_id', label: '居民身份证', hint: '18位身份证号' },
  { value: 'hmt_permit', label: '港澳台居民居住证', hint: '18位居住证号（83/81/82开头）' },
  { value: 'foreign_permanent', label: '外国人永久居留身份证', hint: '18位或15位证件号' },
]

Component({
  behaviors: [page],
  data: {
    done: false, profile: {},
    kinds: KINDS, kindHint: KINDS[0].hint,
    form: { name: '', id_kind: 'resident_id', id_number: '', phone: '', sms_code: '', address: '', district_code: '', promise: false },
    errors: {}, formError: '', resendIn: 0, sending: false, saving: false,
    needsAddress: false, perHousehold: false, districts: [], districtIndex: -1,
  },
  lifetimes: {
    detached() {
      clearInterval(this.timer)
    },
  },
  methods: {
    async fetch() {
      const profile = await request({ path: '/me/profile' })
      let needsAddress = false
      let perHousehold = false
      let districts = []
      if (this.campaignId) {
        const campaign = await request({ path: `/campaigns/${this.campaignId}`, auth: false })
        perHousehold = campaign.rules.limit.per === 'household'
        needsAddress = perHousehold || campaign.rules.fulfilment.some((f) => f !== 'pickup')
        districts = (campaign.rules.city && campaign.rules.city.districts) || []
      }
      const missing = (needsAddress && !profile.address) || (perHousehold && !profile.promised_at) ||
        (needsAddress && districts.length > 0 && !profile.district_code)
      this.setData({ profile, done: profile.profile_complete && !missing, needsAddress, perHousehold, districts })
    },

    back() {
      wx.navigateBack()
    },

    edit() {
      this.setData({ done: false })
    },

    input(event) {
      const field = event.currentTarget.dataset.field
      this.setData({ [`form.${field}`]: event.detail.value, [`errors.${field}`]: '' })
    },

    chooseKind(event) {
      const kind = KINDS.find((k) => k.value === event.detail.value) || KINDS[0]
      this.setData({ 'form.id_kind': kind.value, kindHint: kind.hint, 'errors.id_kind': '' })
    },

    // The district starts unchosen: a resident picks it, nothing is guessed for them.
    chooseDistrict(event) {
      const index = Number(event.detail.value)
      const district = this.data.districts[index]
      if (!district) return
      this.setData({ districtIndex: index, 'form.district_code': district.code, 'errors.district_code': '' })
    },

    promise(event) {
      this.setData({ 'form.promise': (event.detail.value || []).includes('promise'), 'errors.promise': '' })
    },

    async sendCode() {
      const phone = canonical.phone(this.data.form.phone)
      if (!/^1\d{10}$/.test(phone)) {
        this.setData({ 'errors.phone': '请填写11位手机号' })
        return
      }
      this.setData({ sending: true })
      try {
        const sent = await request({ path: '/sms/codes', method: 'POST', data: { phone, purpose: 'profile' } })
        this.countdown(sent.resend_after || 60)
        wx.showToast({ title: '验证码已发送', icon: 'none' })
      } catch (error) {
        if (error.retryAfter) this.countdown(error.retryAfter)
        this.setData({ 'errors.phone': (error.fields && error.fields.phone) || error.message })
      } finally {
        this.setData({ sending: false })
      }
    },

    countdown(seconds) {
      clearInterval(this.timer)
      this.setData({ resendIn: seconds })
      this.timer = setInterval(() => {
        const left = this.data.resendIn - 1
        this.setData({ resendIn: Math.max(0, left) })
        if (left <= 0) clearInterval(this.timer)
      }, 1000)
    },

    async save() {
      const form = this.data.form
      const body = {
        name: canonical.name(form.name), id_kind: form.id_kind,
        id_number: canonical.idNumber(form.id_number), phone: canonical.phone(form.phone),
        sms_code: canonical.smsCode(form.sms_code),
      }
      if (this.data.needsAddress) body.address = canonical.address(form.address)
      if (this.data.needsAddress && this.data.districts.length) {
        if (!form.district_code) {
          this.setData({ errors: { district_code: '请选择住址所在的区（县）' } })
          return
        }
        body.district_code = form.district_code
      }
      if (this.data.perHousehold) body.promise = form.promise
      this.setData({ saving: true, errors: {}, formError: '' })
      try {
        const profile = await request({ path: '/me/profile', method: 'PUT', data: body })
        this.setData({ profile, done: true })
        wx.showToast({ title: '登记成功', icon: 'success' })
      } catch (error) {
        const errors = error.fields || {}
        this.setData({ errors, formError: Object.keys(errors).length ? '' : error.message })
      } finally {
        this.setData({ saving: false })
      }
    },
  },
})
