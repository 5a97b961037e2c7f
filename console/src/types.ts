// The API's shapes, as its OpenAPI document (GET /v1/openapi.json) describes them: only what the console
// reads or sends.

export type Permission =
  | "images:read"
  | "scans:write"
  | "assurance_policies:read"
  | "assurance_policies:manage"
  | "risks:read"
  | "risks:accept"
  | "response_policies:read"
  | "response_policies:manage"
  | "integrations:read"
  | "integrations:manage"
  | "registries:read"
  | "registries:manage"
  | "users:manage"
  | "audit:read"
  | "scopes:global";

/** Every permission, in the API's order (its Permission enum): what a custom role may be made of. */
export const PERMISSIONS: readonly Permission[] = [
  "images:read",
  "scans:write",
  "assurance_policies:read",
  "assurance_policies:manage",
  "risks:read",
  "risks:accept",
  "response_policies:read",
  "response_policies:manage",
  "integrations:read",
  "integrations:manage",
  "registries:read",
  "registries:manage",
  "users:manage",
  "audit:read",
  "scopes:global",
];

export interface Page<T> {
  items: T[];
  next_token?: string | null;
}

export interface RoleBinding {
  role: string;
  scope?: string;
}

export interface Caller {
  user_id: string;
  name?: string | null;
  kind?: string | null;
  token_id?: string | null;
  role_bindings: RoleBinding[];
  grants: { scope: string; permissions: Permission[] }[];
  permissions: Permission[];
  global_permissions: Permission[];
}

export const SEVERITIES = ["critical", "high", "medium", "low", "negligible", "unknown"] as const;
export type Severity = (typeof SEVERITIES)[number];

export type SeverityCounts = Partial<Record<Severity, number>>;

export interface Counts {
  vulnerabilities: SeverityCounts;
  sensitive_data: number;
  misconfigurations: number;
  malware: number;
  accepted?: number;
}

export type ImageStatus = "compliant" | "non_compliant" | "not_scanned";

export interface FindingSummary {
  kind: string;
  id: string;
  severity: string;
  package?: string | null;
  installed_version?: string | null;
  fixed_version?: string | null;
  location?: string | null;
}

export interface VerdictReason {
  policy_id: string;
  policy_name: string;
  policy_version?: number | null;
  would_block?: boolean | null;
  condition: string;
  findings: FindingSummary[];
  findings_total: number;
  image?: string | null;
}

export interface PolicyUsed {
  id: string;
  version: number;
  name: string;
}

export interface Verdict {
  status: "compliant" | "non_compliant";
  block: boolean;
  reasons: VerdictReason[];
  dry_run?: VerdictReason[];
}

export interface Image {
  id: string;
  kind?: "image" | "workload";
  registry: string;
  repository: string;
  tags: string[];
  digest?: string | null;
  status: ImageStatus;
  counts?: Counts | null;
  verdict?: Verdict | null;
  current_scan_id?: string | null;
  scan_count: number;
  first_seen_at?: string | null;
  last_scan_at?: string | null;
  evaluated_at?: string | null;
}

export interface ImageVerdict extends Verdict {
  image_id: string;
  image_reference: string;
  scan_id: string;
  dry_run: VerdictReason[];
  policies: PolicyUsed[];
  acceptances: Record<string, unknown>[];
  evaluated_at: string;
}

export type FindingKind = "vulnerability" | "malware" | "sensitive_data" | "misconfiguration";
export const FINDING_KINDS: FindingKind[] = ["vulnerability", "malware", "sensitive_data", "misconfiguration"];

export interface FindingAcceptance {
  acceptance_id: string;
  expires_at?: string | null;
  accepted_by: string;
}

export interface Finding {
  kind: FindingKind;
  id: string;
  severity: string;
  title?: string | null;
  package?: string | null;
  installed_version?: string | null;
  fixed_version?: string | null;
  fixable: boolean;
  location?: string | null;
  cvss_score?: number | null;
  accepted?: FindingAcceptance | null;
}

export interface Scan {
  scan_id: string;
  image_reference: string;
  format: string;
  scanner?: string | null;
  scanner_version?: string | null;
  received_at: string;
  submitted_by: string;
  finding_count: number;
  counts: Counts;
  verdict: Verdict;
}

export interface DecisionRecord {
  scan_id: string;
  received_at: string;
  image_reference: string;
  submitted_by: string;
  status: "compliant" | "non_compliant";
  block: boolean;
  reasons: VerdictReason[];
  dry_run: VerdictReason[];
  policies: PolicyUsed[];
  acceptances: Record<string, unknown>[];
}

export type Period = "30d" | "60d" | "90d" | "indefinite" | "until_fixed" | "custom";

export interface AcceptanceScope {
  image?: string | null;
  repository?: string | null;
  all?: boolean | null;
  within?: string[] | null;
}

export interface RiskAcceptance {
  id: string;
  finding: { kind: string; id: string; package?: string | null; version?: string | null };
  scope: AcceptanceScope;
  period: string;
  reason: string;
  status: "active" | "expired" | "revoked";
  accepted_at: string;
  accepted_by: string;
  expires_at?: string | null;
  extended_at?: string | null;
  extended_by?: string | null;
  revoked_at?: string | null;
  revoked_by?: string | null;
  revoke_reason?: string | null;
  ended_at?: string | null;
  ended_reason?: string | null;
  registry?: string | null;
  repository?: string | null;
  version: number;
}

export interface CoveredImage {
  image_id: string;
  registry: string;
  repository: string;
  tags: string[];
  digest?: string | null;
  findings: number;
  accepted: number;
}

export interface RiskAcceptanceDetail extends RiskAcceptance {
  covered_images: CoveredImage[];
  covered_images_truncated: boolean;
  stale: boolean;
  stale_reasons: string[];
}

export interface Reevaluation {
  version?: number | null;
  requested_at?: string | null;
  total?: number | null;
  done?: number | null;
  finished_at?: string | null;
}

export interface Conditions {
  severity_at_least?: string;
  max_count?: number;
  cvss_at_least?: number;
  fixable_only?: boolean;
  vulnerability_ids?: string[];
  packages?: string[];
  malware?: boolean;
  sensitive_data?: boolean;
  misconfiguration_severity_at_least?: string;
}

export interface AssurancePolicy {
  id: string;
  name: string;
  description?: string;
  scope: string;
  enabled: boolean;
  mode: string;
  conditions: Conditions;
  actions: string[];
  version: number;
  updated_at?: string | null;
  updated_by?: string | null;
  reevaluation?: Reevaluation | null;
}

export const TRIGGERS = [
  "non_compliant",
  "critical_vulnerabilities",
  "sensitive_data",
  "malware",
  "risk_acceptance_expiration",
  "risk_acceptance_expiring",
] as const;

export interface Output {
  output: string;
  integration: string;
}

export interface ResponseFilters {
  severity_at_least?: string | null;
  repositories?: string[];
  fixable_only?: boolean;
}

export interface ResponsePolicy {
  id: string;
  name: string;
  description?: string;
  scope: string;
  trigger: string;
  outputs: Output[];
  filters?: ResponseFilters;
  enabled: boolean;
  version: number;
}

export type IntegrationType = "email" | "telegram" | "sns" | "webhook";

export interface Integration {
  name: string;
  type: IntegrationType;
  scope: string;
  config: Record<string, unknown>;
  has_secret: boolean;
  version: number;
}

export interface IntegrationTestResult {
  integration: string;
  type: string;
  delivered: boolean;
  status?: number | null;
  detail: string;
  error: string | null;
  retryable: boolean;
}

export interface Notification {
  id: string;
  policy_id: string;
  policy_name?: string | null;
  trigger: string;
  subject: { type: string; id: string };
  output?: string | null;
  integration: string;
  status: "pending" | "sending" | "sent" | "failed";
  attempts?: number;
  last_error?: string | null;
  created_at: string;
  sent_at?: string | null;
}

export interface ResourceSelector {
  registry?: string | null;
  repository?: string | null;
  tag?: string | null;
}

export interface Scope {
  id: string;
  name: string;
  description?: string;
  resources?: ResourceSelector[];
  system: boolean;
  version?: number | null;
}

export interface Role {
  name: string;
  description?: string;
  permissions: string[];
  system: boolean;
  version?: number | null;
}

export interface User {
  id: string;
  name: string;
  email?: string | null;
  kind: "person" | "service";
  role_bindings: RoleBinding[];
  enabled: boolean;
  version: number;
  created_at: string;
}

export interface Token {
  id: string;
  user_id: string;
  name: string;
  created_at: string;
  created_by?: string | null;
  expires_at?: string | null;
  last_used_at?: string | null;
  revoked_at?: string | null;
}

export interface IssuedToken extends Token {
  token: string;
}

export interface AuditEvent {
  id: string;
  occurred_at: string;
  actor?: string | null;
  source_ip?: string | null;
  action: string;
  entity_type: string;
  entity_id?: string | null;
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
  details?: Record<string, unknown>;
}
