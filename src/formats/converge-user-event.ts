/**
 * User-side experience events (converge-core 3.8+ `UserExperienceEvent`): the deliberate human
 * acts that adjust engine state — approving or rejecting a paused gate, overriding a fact,
 * proposal or constraint, correcting a fact or proposal, adjusting a boundary. A sibling of
 * {@link ExperienceEvent}, serialised the same way: adjacently tagged `{"type":"…","data":{…}}`,
 * snake_case fields, `Option` as `null`, unknown fields kept after the known ones.
 *
 * @example
 * import { parseUserExperienceEvent } from 'kerno';
 * const event = parseUserExperienceEvent({
 *   type: 'UserApprovalGranted',
 *   data: { gate_request_id: 'hitl-1', actor: 'operator-1', policy_snapshot_hash: null, reason: null },
 * });
 * event.type; // 'UserApprovalGranted'
 *
 * @module
 */
import * as z from 'zod';
import type { JsonValue } from '../util/canonical-json.js';
import {
  contentHashSchema,
  invalidEventError,
  jsonValueSchema,
  type ExperienceEvent,
} from './converge-experience-event.js';

/** What an override applies to (`OverrideTarget`, tagged `kind`, content `id`). */
export type OverrideTarget =
  | { readonly kind: 'Fact'; readonly id: string }
  | { readonly kind: 'Proposal'; readonly id: string }
  | { readonly kind: 'Constraint'; readonly id: string };

/** What a correction applies to (`CorrectionTarget`, internally tagged `kind`, snake_case). */
export type CorrectionTarget =
  | { readonly kind: 'fact'; readonly fact_id: string }
  | { readonly kind: 'proposal'; readonly proposal_id: string };

/** The boundaries a human can adjust (`BoundaryKind`, snake_case). */
export const BOUNDARY_KINDS = ['authority', 'forbidden', 'expiry', 'reversibility'] as const;
/** A boundary kind. */
export type BoundaryKind = (typeof BOUNDARY_KINDS)[number];

/** The scope of a boundary adjustment (`BoundaryTarget`, internally tagged `scope`). */
export type BoundaryTarget =
  | { readonly scope: 'pack'; readonly pack_id: string }
  | { readonly scope: 'intent'; readonly intent_id: string }
  | { readonly scope: 'global' };

/** Kinds of promoted content (`FactContentKind`). */
export const FACT_CONTENT_KINDS = [
  'Claim',
  'Plan',
  'Classification',
  'Evaluation',
  'Document',
  'Reasoning',
] as const;
/** A fact content kind. */
export type FactContentKind = (typeof FACT_CONTENT_KINDS)[number];

/** A fact's content (`FactContent`): what a correction replaces the original with. */
export interface FactContent {
  readonly kind: FactContentKind;
  readonly content: string;
  readonly structured: JsonValue | null;
}

/** The `data` of each user-side event variant, by variant name, fields in serde order. */
export interface UserExperienceEventDataMap {
  /** A human approved a paused gate request. */
  readonly UserApprovalGranted: {
    readonly gate_request_id: string;
    readonly actor: string;
    readonly policy_snapshot_hash: string | null;
    readonly reason: string | null;
  };
  /** A human rejected a paused gate request. */
  readonly UserApprovalRejected: {
    readonly gate_request_id: string;
    readonly actor: string;
    readonly policy_snapshot_hash: string | null;
    readonly reason: string | null;
  };
  /** A human issued an override against a fact, proposal, or constraint. */
  readonly UserOverrideIssued: {
    readonly target: OverrideTarget;
    readonly actor: string;
    readonly policy_snapshot_hash: string | null;
    readonly reason: string;
  };
  /** A human corrected a fact or proposal without rewriting history. */
  readonly UserCorrection: {
    readonly target: CorrectionTarget;
    readonly actor: string;
    readonly policy_snapshot_hash: string | null;
    readonly original_content: string;
    readonly corrected_content: FactContent;
    readonly reason: string;
  };
  /** A human adjusted an authority, forbidden-action, expiry, or reversibility boundary. */
  readonly UserBoundaryAdjusted: {
    readonly boundary: BoundaryKind;
    readonly target: BoundaryTarget;
    readonly actor: string;
    readonly policy_snapshot_hash: string | null;
    readonly previous_value: JsonValue;
    readonly new_value: JsonValue;
    readonly reason: string;
  };
}

/** The name of a user-side event variant. */
export type UserExperienceEventKind = keyof UserExperienceEventDataMap;

/** The user-side event of variant `K`. */
export type UserExperienceEventOf<K extends UserExperienceEventKind> = {
  readonly type: K;
  readonly data: UserExperienceEventDataMap[K];
};

/** Any user-side event, adjacently tagged. Narrow on `type`. */
export type UserExperienceEvent = {
  [K in UserExperienceEventKind]: UserExperienceEventOf<K>;
}[UserExperienceEventKind];

/** Every user-side event kind, in converge's declaration order. */
export const USER_EXPERIENCE_EVENT_KINDS: readonly UserExperienceEventKind[] = Object.freeze([
  'UserApprovalGranted',
  'UserApprovalRejected',
  'UserOverrideIssued',
  'UserCorrection',
  'UserBoundaryAdjusted',
] as const satisfies readonly UserExperienceEventKind[]);

const USER_KIND_SET: ReadonlySet<string> = new Set(USER_EXPERIENCE_EVENT_KINDS);

/** Whether `value` names a user-side event variant. */
export function isUserExperienceEventKind(value: unknown): value is UserExperienceEventKind {
  return typeof value === 'string' && USER_KIND_SET.has(value);
}

/** Whether an event (engine- or user-side) is a user-side one. */
export function isUserExperienceEvent(
  event: ExperienceEvent | UserExperienceEvent,
): event is UserExperienceEvent {
  return USER_KIND_SET.has(event.type);
}

// ── Schemas ─────────────────────────────────────────────────────────────────────────────────

const str = z.string();
const opt = <T>(schema: z.ZodType<T>): z.ZodType<T | null> => schema.nullable().default(null);
const unionError =
  (message: string) =>
  (issue: { readonly code?: string }): string | undefined =>
    issue.code === 'invalid_union' ? message : undefined;

/** Schema of {@link OverrideTarget}. */
export const overrideTargetSchema = z.discriminatedUnion(
  'kind',
  [
    z.looseObject({ kind: z.literal('Fact'), id: str }),
    z.looseObject({ kind: z.literal('Proposal'), id: str }),
    z.looseObject({ kind: z.literal('Constraint'), id: str }),
  ],
  {
    error: unionError('expected an override target {"kind":"Fact"|"Proposal"|"Constraint","id":…}'),
  },
) satisfies z.ZodType<OverrideTarget>;

/** Schema of {@link CorrectionTarget}. */
export const correctionTargetSchema = z.discriminatedUnion(
  'kind',
  [
    z.looseObject({ kind: z.literal('fact'), fact_id: str }),
    z.looseObject({ kind: z.literal('proposal'), proposal_id: str }),
  ],
  {
    error: unionError(
      'expected a correction target {"kind":"fact","fact_id":…} or {"kind":"proposal","proposal_id":…}',
    ),
  },
) satisfies z.ZodType<CorrectionTarget>;

/** Schema of {@link BoundaryTarget}. */
export const boundaryTargetSchema = z.discriminatedUnion(
  'scope',
  [
    z.looseObject({ scope: z.literal('pack'), pack_id: str }),
    z.looseObject({ scope: z.literal('intent'), intent_id: str }),
    z.looseObject({ scope: z.literal('global') }),
  ],
  {
    error: unionError('expected a boundary target with "scope": "pack", "intent" or "global"'),
  },
) satisfies z.ZodType<BoundaryTarget>;

/** Schema of {@link FactContent}. */
export const factContentSchema = z.looseObject({
  kind: z.enum(FACT_CONTENT_KINDS),
  content: str,
  structured: opt(jsonValueSchema),
}) satisfies z.ZodType<FactContent>;

const approval = z.looseObject({
  gate_request_id: str,
  actor: str,
  policy_snapshot_hash: opt(contentHashSchema),
  reason: opt(str),
});

const USER_EVENT_DATA = {
  UserApprovalGranted: approval,
  UserApprovalRejected: approval,
  UserOverrideIssued: z.looseObject({
    target: overrideTargetSchema,
    actor: str,
    policy_snapshot_hash: opt(contentHashSchema),
    reason: str,
  }),
  UserCorrection: z.looseObject({
    target: correctionTargetSchema,
    actor: str,
    policy_snapshot_hash: opt(contentHashSchema),
    original_content: contentHashSchema,
    corrected_content: factContentSchema,
    reason: str,
  }),
  UserBoundaryAdjusted: z.looseObject({
    boundary: z.enum(BOUNDARY_KINDS),
    target: boundaryTargetSchema,
    actor: str,
    policy_snapshot_hash: opt(contentHashSchema),
    previous_value: jsonValueSchema,
    new_value: jsonValueSchema,
    reason: str,
  }),
} as const;

/** Schema of {@link UserExperienceEvent}: `{"type":"<kind>","data":{…}}`. */
export const userExperienceEventSchema = z.discriminatedUnion(
  'type',
  USER_EXPERIENCE_EVENT_KINDS.map((kind) =>
    z.looseObject({ type: z.literal(kind), data: USER_EVENT_DATA[kind] }),
  ) as unknown as [z.ZodObject<{ type: z.ZodLiteral<string> }>],
  {
    error: unionError(
      `unknown user experience event type; expected one of ${USER_EXPERIENCE_EVENT_KINDS.join(', ')}`,
    ),
  },
) as unknown as z.ZodType<UserExperienceEvent>;

/**
 * Validates a user-side event in its serde form and returns it normalised (fields in converge's
 * order, missing `Option`s as `null`, unknown fields kept). Throws `INVALID_EVENT` naming the
 * bad field.
 */
export function parseUserExperienceEvent(value: unknown): UserExperienceEvent {
  const result = userExperienceEventSchema.safeParse(value);
  if (!result.success) throw invalidEventError('user experience event', result.error, value);
  return result.data;
}
