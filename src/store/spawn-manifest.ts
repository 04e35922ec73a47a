import type { Project, Role, Task } from '../types.ts';

/**
 * The manifest of a spawned session, in exactly the schema the original CLI
 * validates (COMPAT §2.2): every object closed, enums strict, `createdAt` an
 * ISO string. Only fields that schema knows are copied in.
 */

const MODELS = ['sonnet', 'opus', 'haiku'];
const PERMISSION_MODES = ['acceptEdits', 'interactive', 'readOnly'];
const DEFAULT_CRITERIA = 'Task completion as described';

export interface ManifestInput {
  role: Role;
  strategy: 'simple' | 'queue';
  project: Project;
  tasks: Task[];
  skills: string[];
  model?: string;
  permissionMode?: string;
  reason: string | null;
  templateId?: string;
}

function manifestTask(task: Task) {
  const criteria = [...task.subtasks].sort((a, b) => a.order - b.order).map((s) => s.title);
  return {
    id: task.id,
    title: task.title,
    description: task.description,
    acceptanceCriteria: criteria.length > 0 ? criteria : [DEFAULT_CRITERIA],
    projectId: task.projectId,
    createdAt: new Date(task.createdAt).toISOString(),
    parentId: task.parentId,
    dependencies: task.dependencies,
    priority: task.priority,
    status: task.status,
  };
}

export function buildManifest(input: ManifestInput) {
  const initialPrompts = Object.fromEntries(input.tasks.filter((t) => t.initialPrompt).map((t) => [t.id, t.initialPrompt]));
  return {
    manifestVersion: '1.0',
    role: input.role,
    tasks: input.tasks.map(manifestTask),
    session: {
      model: input.model !== undefined && MODELS.includes(input.model) ? input.model : 'sonnet',
      permissionMode: input.permissionMode !== undefined && PERMISSION_MODES.includes(input.permissionMode) ? input.permissionMode : 'acceptEdits',
      thinkingMode: 'auto',
      ...(input.project.workingDir ? { workingDirectory: input.project.workingDir } : {}),
    },
    context: { custom: { taskIds: input.tasks.map((t) => t.id), reason: input.reason, initialPrompts } },
    skills: input.skills,
    strategy: input.strategy,
    ...(input.templateId !== undefined ? { templateId: input.templateId } : {}),
  };
}

export type Manifest = ReturnType<typeof buildManifest>;
