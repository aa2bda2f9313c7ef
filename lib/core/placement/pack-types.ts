/** The packer's vocabulary: hosts (existing instances and new ones), placed tasks and grant requests. */
import type { Resources } from '../model/resources.ts';
import type { ChooseExpr } from '../strl/expr.ts';

export interface ExistingHost {
  readonly kind: 'existing';
  readonly poolId: string;
  readonly id: string;
  readonly free: Resources[];
}

export interface NewHost {
  readonly kind: 'new';
  readonly poolId: string;
  readonly serial: number;
  readonly used: Resources[];
  /** Number of tasks in each slot. */
  readonly tasks: number[];
}

export type Host = ExistingHost | NewHost;

export interface PlacedTask {
  readonly jobId: string;
  readonly leafIndex: number;
  readonly leaf: ChooseExpr;
  readonly start: number;
  readonly end: number;
  readonly host: Host;
}

export interface GrantRequest {
  readonly jobId: string;
  readonly leaf: ChooseExpr;
  readonly leafIndex: number;
  /** Tasks to place: k for nCk; for LnCk the number granted. */
  readonly units: number;
  /** Preferred pools and how many tasks the solver put in each. */
  readonly hints?: ReadonlyMap<string, number>;
}

export interface PackOptions {
  /** Try partitions of the leaf other than the hinted ones. */
  readonly allowMove: boolean;
  /** Open new instances beyond the solver's counts (limited mode), within the caps. */
  readonly allowExtra: boolean;
  /** Charge an opened instance in full, not by the task's share of it (right-sizing). */
  readonly fullOpen?: boolean;
}

export interface PackResult {
  readonly tasks: readonly PlacedTask[];
  /** Estimated $ this grant adds (span extensions and opened instances, the latter by dominant share). */
  readonly marginal: number;
  readonly moved: boolean;
  readonly extra: boolean;
}
