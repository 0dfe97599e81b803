/** The baseline of the end-to-end figures: the same fake OpenCode called directly, one prompt at a time. */
export const directPromptTimes = async (opencodeUrl: string, count: number): Promise<Array<number>> => {
  const json = { "content-type": "application/json" }
  const session = await (await fetch(`${opencodeUrl}/session`, { method: "POST", body: JSON.stringify({ title: "direct" }), headers: json })).json()
  const times: Array<number> = []
  for (let i = 0; i < count; i++) {
    const started = performance.now()
    await (await fetch(`${opencodeUrl}/session/${session.id}/message`, { method: "POST", body: JSON.stringify({ parts: [{ type: "text", text: `d-${i}` }] }), headers: json })).json()
    times.push(performance.now() - started)
  }
  return times
}
