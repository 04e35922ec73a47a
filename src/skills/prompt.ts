import type { Skill } from './library.ts';

const CLI_SKILL = 'maestro-cli';

export interface PromptPlan {
  skills: string[];
  missing: string[];
}

const appliesTo = (skill: Skill, role: string) => skill.assignTo.includes(role) || skill.assignTo.includes('all');

/**
 * The skills for a role, in prompt order: `maestro-cli`, then the role's skills by
 * id, then the named ones as given; each skill's dependencies come before it and
 * every skill appears once. Named skills and dependencies not on disk are `missing`.
 */
export function planPrompt(skills: Map<string, Skill>, role: string, named: string[]): PromptPlan {
  const order: string[] = [];
  const missing: string[] = [];
  const seen = new Set<string>();
  // Depth-first, dependencies first, with an explicit stack: any depth, no recursion.
  const visit = (rootId: string) => {
    if (seen.has(rootId)) return;
    seen.add(rootId);
    const stack = [{ id: rootId, next: 0 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const skill = skills.get(top.id);
      if (!skill) {
        missing.push(top.id);
        stack.pop();
      } else if (top.next < skill.dependencies.length) {
        const dep = skill.dependencies[top.next++];
        if (!seen.has(dep)) {
          seen.add(dep);
          stack.push({ id: dep, next: 0 });
        }
      } else {
        order.push(top.id);
        stack.pop();
      }
    }
  };
  if (skills.has(CLI_SKILL)) visit(CLI_SKILL);
  for (const [id, skill] of skills) if (appliesTo(skill, role)) visit(id);
  for (const id of named) visit(id);
  return { skills: order, missing };
}

export function formatPrompt(skills: Skill[]): string {
  return skills
    .map((s) => `---\n# ${s.name} (v${s.version})\n\n${s.description}\n\n${s.instructions.trimEnd()}`)
    .join('\n\n');
}
