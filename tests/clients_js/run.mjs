// Drives @bitrix24/b24jssdk against a Trunkline server for the compat tests.
// Usage: node run.mjs '<json config>'  ->  one JSON object per line on stdout.
// OAuth scenarios (tests/compat/test_oauth_clients.py), B24OAuth:
//   {scenario, clientEndpoint, serverEndpoint, accessToken, refreshToken, expires,
//    clientId, clientSecret, memberId, domain} -- the endpoints as the server answered them
//   (they end in /rest/, as Bitrix24's do, so calls go to /rest//method).
// Scenario "hook" (tests/compat/test_tls_clients.py), B24Hook unpatched over https:
//   {scenario: "hook", url} -> {ok, added, titles, errors}
// Scenario "telephony" (tests/compat/test_telephony_clients.py): the same OAuth config plus
//   {phone, record}: the external-call flow, one record per call.
// Scenario "faults" (tests/compat/test_limits_clients.py), B24Hook over plain http:
//   {scenario: "faults", b24Url, userId, secret, methods: [...]} -> one record per method
//   with the time the SDK took (its retries of 503 and 429 included).
import { ApiVersion, B24Hook, B24OAuth } from '@bitrix24/b24jssdk'

const config = JSON.parse(process.argv[2])

function emit (record) {
  process.stdout.write(JSON.stringify(record) + '\n')
}

if (config.scenario === 'hook') {
  // B24Hook as its users write it, unpatched: https only, trusted through
  // NODE_EXTRA_CA_CERTS (trunkline serve --tls prints the line).
  const hook = B24Hook.fromWebhookUrl(config.url)
  hook.offClientSideWarning?.()
  try {
    const added = await hook.actions.v2.call.make({
      method: 'voximplant.sip.add',
      params: { TYPE: 'office', TITLE: 'From B24Hook', SERVER: 'pbx.example', LOGIN: 'js' }
    })
    const listed = await hook.actions.v2.call.make({ method: 'voximplant.sip.get', params: {} })
    emit({
      ok: added.isSuccess && listed.isSuccess,
      added: added.getData()?.result ?? null,
      titles: (listed.getData()?.result ?? []).map(row => row.TITLE),
      errors: [...added.getErrorMessages(), ...listed.getErrorMessages()]
    })
  } catch (error) {
    emit({ ok: false, errors: [String(error.message ?? error)], code: error.code ?? null })
  }
  process.exit(0)
}

if (config.scenario === 'faults') {
  const hook = new B24Hook(
    { b24Url: config.b24Url, userId: config.userId, secret: config.secret },
    { restrictionParams: { maxRetries: 3, retryDelay: 50, rateLimit: { burstLimit: 1000, drainRate: 1000, adaptiveEnabled: false } } }
  )
  hook.offClientSideWarning?.()
  hook.getHttpClient(ApiVersion.v2).ajaxClient.interceptors.request.use(c => { c.url = c.url.replace(/^https:\/\//, 'http://'); return c })
  for (const method of config.methods) {
    const began = Date.now()
    try {
      const response = await hook.actions.v2.call.make({ method, params: {} })
      emit({ method, ok: response.isSuccess, ms: Date.now() - began, errors: response.getErrorMessages() })
    } catch (error) {
      emit({ method, ok: false, ms: Date.now() - began, code: error.code ?? null, status: error.status ?? null, errors: [String(error.message ?? error)] })
    }
  }
  process.exit(0)
}

const refreshes = []

const b24 = new B24OAuth(
  {
    applicationToken: 'app-token',
    userId: 1,
    memberId: config.memberId,
    accessToken: config.accessToken,
    refreshToken: config.refreshToken,
    expires: config.expires,
    expiresIn: 3600,
    scope: 'telephony',
    domain: config.domain,
    clientEndpoint: config.clientEndpoint,
    serverEndpoint: config.serverEndpoint,
    status: 'L',
    issuer: 'request'
  },
  { clientId: config.clientId, clientSecret: config.clientSecret },
  { restrictionParams: { maxRetries: 1, retryDelay: 50, rateLimit: { burstLimit: 1000, drainRate: 1000, adaptiveEnabled: false } } }
)
b24.offClientSideWarning()
b24.setCallbackRefreshAuth(async ({ authData, b24OAuthParams }) => {
  refreshes.push({
    accessToken: authData.access_token,
    refreshToken: authData.refresh_token,
    expires: authData.expires,
    clientEndpoint: b24OAuthParams.clientEndpoint,
    serverEndpoint: b24OAuthParams.serverEndpoint,
    scope: b24OAuthParams.scope,
    status: b24OAuthParams.status
  })
})

async function call (method, params = {}) {
  try {
    const response = await b24.actions.v2.call.make({ method, params })
    emit({ method, ok: response.isSuccess, result: response.isSuccess ? response.getData().result : null, errors: response.getErrorMessages() })
  } catch (error) {
    emit({ method, ok: false, code: error.code ?? null, status: error.status ?? null, errors: [String(error.message ?? error)] })
  }
}

if (config.scenario === 'telephony') {
  // The Market review flow (tests/compat/test_telephony_clients.py): register -> show ->
  // hide -> finish -> attachRecord -> voximplant.statistic.get, each result on its line.
  const reg = await b24.actions.v2.call.make({ method: 'telephony.externalcall.register', params: { USER_ID: 1, PHONE_NUMBER: config.phone, TYPE: 2, LINE_NUMBER: '77', EXTERNAL_CALL_ID: 'js-1' } })
  emit({ method: 'telephony.externalcall.register', ok: reg.isSuccess, result: reg.isSuccess ? reg.getData().result : null, errors: reg.getErrorMessages() })
  const callId = reg.isSuccess ? reg.getData().result.CALL_ID : 'none'
  await call('telephony.externalcall.show', { CALL_ID: callId, USER_ID: [1] })
  await call('telephony.externalcall.hide', { CALL_ID: callId, USER_ID: 1 })
  await call('telephony.externalcall.finish', { CALL_ID: callId, USER_ID: 1, DURATION: 33, COST: 0.25, COST_CURRENCY: 'USD' })
  await call('telephony.externalCall.attachRecord', { CALL_ID: callId, FILENAME: 'js.mp3', FILE_CONTENT: config.record })
  await call('voximplant.statistic.get', { FILTER: { CALL_ID: callId } })
  process.exit(0)
}

await call('voximplant.sip.connector.status')
await call('voximplant.sip.add', { TYPE: 'office', TITLE: `jssdk-${config.scenario}`, SERVER: 'pbx.example.com', LOGIN: 'js' })
await call('voximplant.sip.get', { FILTER: { TITLE: `jssdk-${config.scenario}` } })
await call('profile')
emit({ refreshes, auth: b24.auth.getAuthData() })
