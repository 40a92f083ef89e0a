/**
 * The one SQL builder for `LogStore.query`, shared by the SQLite and PostgreSQL backends: a
 * {@link LogQuery} becomes SQL text plus parameters, with each dialect's placeholders (`?` or
 * `$n`). Used by reads only; appends run statements prepared once.
 *
 * @module
 */
import type { LogQuery } from './log.js';

/** What differs between the SQL backends' log queries. */
export interface LogSqlDialect {
  /** The placeholder of the `n`th parameter (1-based): `?` or `$n`. */
  placeholder(n: number): string;
  /** The selected columns, in the backend's row order. */
  readonly columns: string;
  /** The `FROM` clause (with an alias if the columns use one). */
  readonly from: string;
  /** A column as the query names it (e.g. `r.seq`). */
  column(name: string): string;
  /** The condition on the stream, given the placeholder of the stream parameter. */
  stream(placeholder: string): string;
  /** The condition "kind is one of" for two or more kinds, given a parameter binder. */
  kindIn(column: string, kinds: readonly string[], param: (value: unknown) => string): string;
}

/** A built query: run `text` with `values`; when `newestFirst`, reverse the rows. */
export interface LogSql {
  readonly text: string;
  readonly values: unknown[];
  readonly newestFirst: boolean;
}

/**
 * Builds the SQL for `q` on `stream` (the stream's id or name, as the dialect's condition
 * takes it). A limited query selects the newest rows (the index walk stops early); the caller
 * reverses them into ascending order.
 */
export function buildLogQuery(dialect: LogSqlDialect, stream: unknown, q: LogQuery): LogSql {
  const values: unknown[] = [];
  const param = (value: unknown): string => {
    values.push(value);
    return dialect.placeholder(values.length);
  };
  const col = (name: string): string => dialect.column(name);
  const where: string[] = [dialect.stream(param(stream))];
  const eq = (name: string, value: string | undefined): void => {
    if (value !== undefined) where.push(`${col(name)} = ${param(value)}`);
  };
  eq('tenant', q.tenant);
  const kinds = q.kinds !== undefined && q.kinds.length > 0 ? q.kinds : undefined;
  if (kinds !== undefined) {
    where.push(
      kinds.length === 1
        ? `${col('kind')} = ${param(kinds[0])}`
        : dialect.kindIn(col('kind'), kinds, param),
    );
  }
  eq('subject', q.subject);
  eq('correlation', q.correlation);
  eq('chain', q.chain);
  if (q.time?.fromMs !== undefined)
    where.push(`${col('time_ms')} >= ${param(Math.ceil(q.time.fromMs))}`);
  if (q.time?.toMs !== undefined)
    where.push(`${col('time_ms')} <= ${param(Math.floor(q.time.toMs))}`);
  if (q.fromSeq !== undefined) where.push(`${col('seq')} >= ${param(q.fromSeq)}`);
  if (q.toSeq !== undefined) where.push(`${col('seq')} <= ${param(q.toSeq)}`);
  const limited = q.limit !== undefined;
  const keys = q.orderBy === 'time' ? [col('time_ms'), col('seq')] : [col('seq')];
  const order = keys.map((k) => (limited ? `${k} DESC` : k)).join(', ');
  const limit = limited ? ` LIMIT ${param(q.limit)}` : '';
  return {
    text: `SELECT ${dialect.columns} FROM ${dialect.from} WHERE ${where.join(' AND ')} ORDER BY ${order}${limit}`,
    values,
    newestFirst: limited,
  };
}
