// Stands in for the `form-data` package in the CLI bundle (see rolldown.config.mjs): axios, pulled in by
// dingtalk-stream, imports it for multipart bodies, which the bridge never sends through axios. Node's own
// FormData serves if one ever is; the package would bring mime-db along (~2 MB of heap in every process).
export default globalThis.FormData
