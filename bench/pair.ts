/**
 * `node bench/pair.ts` (after `npm run build`): only the project-vs-seed part of `npm run bench`, both
 * at once as there, for a quick comparison while working on a figure.
 */
import { coldStart, machineNode, messageRun, VERSUS } from "./versus.ts"

const machine = machineNode()
const [project, seed] = await Promise.all([messageRun("project", machine.path, VERSUS), messageRun("seed", machine.path, VERSUS)])
const cold = process.env.BENCH_NO_COLD ? {} : { project: await coldStart("project", machine.path, 5), seed: await coldStart("seed", machine.path, 5) }
for (const [who, run] of [["project", project], ["seed", seed]] as const) {
  process.stdout.write(`${who.padEnd(8)} overhead p50 ${run.overhead.p50} p99 ${run.overhead.p99} | in p50 ${run.inbound.p50} p99 ${run.inbound.p99} | out p50 ${run.outbound.p50} p99 ${run.outbound.p99} | cpu/msg ${run.cpuMsPerMessage} | rss ${run.rssMb} MB | cold ${cold[who as keyof typeof cold] ?? "-"} ms\n`)
}
