/**
 * Cluster mode keeps every message in PostgreSQL (the cluster's journal and dedup key); without a
 * clean-up the tables only grow. One runner at a time (an Effect Cluster singleton) deletes, every hour:
 * answered messages and their replies older than a week (DingTalk redelivers within minutes, so
 * deduplication needs far less), delivery records as old, and conversations idle for 90 days.
 */
import { Clock, Duration, Effect, Schedule } from "effect"
import { MachineId, Singleton, Snowflake } from "effect/cluster"
import { SqlClient } from "effect/sql"

const MESSAGES_KEPT = Duration.days(7)
const CONVERSATIONS_KEPT = Duration.days(90)

/** One clean-up as of `now` (Unix ms). */
export const cleanUpAt = (now: number) => Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // Message IDs are snowflakes: their high bits are the time they were made.
  const before = String(Snowflake.make({ timestamp: now - Duration.toMillis(MESSAGES_KEPT), machineId: MachineId.make(0), sequence: 0 }))
  yield* sql`delete from cluster_replies where request_id in (select id from cluster_messages where processed and id < ${before})`
  const messages = yield* sql`delete from cluster_messages where processed and id < ${before} returning id`
  yield* sql`delete from bridge_deliveries where at < to_timestamp(${(now - Duration.toMillis(MESSAGES_KEPT)) / 1000})`
  const conversations = yield* sql`delete from bridge_conversations where last_activity < ${now - Duration.toMillis(CONVERSATIONS_KEPT)} returning id`
  if (messages.length + conversations.length > 0) {
    yield* Effect.logInfo(`Cluster clean-up: ${messages.length} old message(s), ${conversations.length} idle conversation(s) deleted`)
  }
  return { messages: messages.length, conversations: conversations.length }
})

const hourly = Clock.currentTimeMillis.pipe(
  Effect.flatMap(cleanUpAt),
  Effect.catch((error) => Effect.logWarning(`Cluster clean-up failed; trying again in an hour: ${error.message}`)),
  Effect.repeat(Schedule.spaced(Duration.hours(1))),
  // First after a minute (the tables are created as the runner starts), then every hour.
  Effect.delay(Duration.minutes(1)),
  Effect.asVoid
)

/** The hourly clean-up, run by one runner of the cluster. */
export const ClusterRetentionLive = Singleton.make("bridge-retention", hourly)
