"""Evol-Instruct (WizardLM, Xu et al. 2023; WizardCoder, Luo et al. 2023): harder and rarer instructions.

Each round rewrites every lineage's current instruction with one method drawn
(seeded) from six: five in depth (add a constraint, deepen, concretise, more
reasoning steps, complicate the input: WizardLM's In-Depth Evolving, worded
for programming tasks as WizardCoder did) and one in breadth (a new, rarer
instruction of the same kind: In-Breadth Evolving).

Elimination Evolving drops an evolution, in this order of the rules:

1. `no_change`: it says the same as the instruction it came from (equal once
   case, punctuation and spacing are ignored);
2. `sorry`: a short answer (under 80 words) that contains "sorry": the model
   declined;
3. `stop_words`: only punctuation and stop words (or nothing);
4. `copied_template`: it copies words of the evolving prompt ("given prompt",
   "#Rewritten Prompt#", ...).

An eliminated evolution leaves its lineage where it was: the next round
evolves the same instruction again (WizardLM puts it back in the pool). Every
surviving evolution is a new instruction of the dataset (with its round and
method) and gets responses and tests like the seed's instruction.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from codefill.jobs.instruct_data.prompts import FewShotPrompt

DEPTH_METHODS: dict[str, str] = {
    "add_constraints": "Add one more constraint or requirement to the task, for example on the input's range, "
                       "on an edge case, or on the result's format.",
    "deepen": "If the task asks about a certain problem, increase the depth and breadth of what it asks: require "
              "the solution to handle a more general or more thorough version of the problem.",
    "concretize": "Replace a general concept in the task with a more specific one, for example a specific data "
                  "structure, data format or domain.",
    "reasoning_steps": "If the task can be solved with only a few simple steps, rewrite it so that it explicitly "
                       "requires several steps of reasoning.",
    "complicate_input": "Make the task's input more complex: nested structures, several related inputs, or a "
                        "richer data format that the solution must parse or traverse.",
}
BREADTH_METHOD = "breadth"
METHODS: tuple[str, ...] = (*DEPTH_METHODS, BREADTH_METHOD)

DEPTH_TEMPLATE = """\
I want you to act as a Prompt Rewriter.
Your objective is to rewrite a given programming task into a more complex version, to make it a bit harder for \
famous AI systems (e.g., ChatGPT and GPT-4) to handle.
But the rewritten task must be reasonable, must be understood and answered by humans, and must still ask for \
Python code whose correctness can be checked with assertions.
Your rewriting cannot omit the non-text parts such as code, examples and inputs in #The Given Prompt#.
You SHOULD complicate the given prompt using the following method:
{method}
You should try your best not to make the #Rewritten Prompt# verbose: #Rewritten Prompt# can only add 10 to 20 \
words to #The Given Prompt#.
'#The Given Prompt#', '#Rewritten Prompt#', 'given prompt' and 'rewritten prompt' are not allowed to appear in \
#Rewritten Prompt#.
#The Given Prompt#:
{instruction}
#Rewritten Prompt#:
"""

BREADTH_TEMPLATE = """\
I want you to act as a Prompt Creator.
Your goal is to draw inspiration from the #Given Prompt# to create a brand new programming task.
This new task should belong to the same domain as the #Given Prompt# but be even more rare.
The LENGTH and complexity of the #Created Prompt# should be similar to that of the #Given Prompt#.
The #Created Prompt# must be reasonable, must be understood and answered by humans, and must ask for Python \
code whose correctness can be checked with assertions.
'#Given Prompt#', '#Created Prompt#', 'given prompt' and 'created prompt' are not allowed to appear in \
#Created Prompt#.
#Given Prompt#:
{instruction}
#Created Prompt#:
"""

EVOLVE_SYSTEM = "You rewrite programming tasks exactly as asked, and answer with the new task only."

ELIMINATION_RULES: tuple[str, ...] = ("no_change", "sorry", "stop_words", "copied_template")
SORRY_MAX_WORDS = 80
TEMPLATE_WORDS: tuple[str, ...] = (
    "given prompt", "rewritten prompt", "created prompt", "#the given prompt#", "#given prompt#",
    "#rewritten prompt#", "#created prompt#", "prompt rewriter", "prompt creator",
)
# English stop words (the NLTK list, which WizardLM's rule refers to).
STOP_WORDS = frozenset("""
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers herself
it its itself they them their theirs themselves what which who whom this that these those am is are was were be
been being have has had having do does did doing a an the and but if or because as until while of at by for with
about against between into through during before after above below to from up down in out on off over under
again further then once here there when where why how all any both each few more most other some such no nor not
only own same so than too very s t can will just don should now d ll m o re ve y ain aren couldn didn doesn hadn
hasn haven isn ma mightn mustn needn shan shouldn wasn weren won wouldn
""".split())

_WORD = re.compile(r"\w+")
_PUNCT = str.maketrans({c: " " for c in string.punctuation})


def evolution_prompt(method: str, instruction: str) -> FewShotPrompt:
    if method == BREADTH_METHOD:
        text = BREADTH_TEMPLATE.format(instruction=instruction.strip())
    else:
        text = DEPTH_TEMPLATE.format(method=DEPTH_METHODS[method], instruction=instruction.strip())
    # No examples: the template is the whole prompt, a user message in chat. In a completion, the next
    # template would start with "#The Given Prompt#"/"#Given Prompt#" lines.
    return FewShotPrompt(EVOLVE_SYSTEM, (), text, stop=("\n#The Given Prompt#", "\n#Given Prompt#"))


def choose_method(seed: int, lineage: str, round_: int) -> str:
    return random.Random(f"{seed}:{lineage}:{round_}").choice(METHODS)


def _comparable(text: str) -> str:
    return " ".join(text.lower().translate(_PUNCT).split())


def elimination_reason(original: str, evolved: str) -> str | None:
    """The first rule that eliminates `evolved` (see the module docstring), or None when it is kept."""
    words = _WORD.findall(evolved.lower())
    if _comparable(evolved) == _comparable(original):
        return "no_change"
    if "sorry" in words and len(words) < SORRY_MAX_WORDS:
        return "sorry"
    if all(w in STOP_WORDS for w in words):
        return "stop_words"
    lowered = evolved.lower()
    if any(t in lowered for t in TEMPLATE_WORDS):
        return "copied_template"
    return None


@dataclass(frozen=True)
class Instruction:
    id: str  # the seed's id for round 0, then "<seed id>.e<round>"
    seed_id: str
    text: str
    concepts: str
    round: int = 0
    method: str | None = None  # the evolution method that made it
    parent: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RoundStats:
    round: int
    attempted: int = 0
    kept: int = 0
    eliminated: dict[str, int] = field(default_factory=lambda: {r: 0 for r in ELIMINATION_RULES})
    by_method: dict[str, int] = field(default_factory=dict)  # attempted per method
    kept_by_method: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def evolve(
    base: Sequence[Instruction],
    rounds: int,
    ask: Callable[[list[tuple[str, FewShotPrompt]]], list[str]],
    *,
    seed: int = 0,
) -> tuple[list[Instruction], list[RoundStats]]:
    """`rounds` rounds of evolution over the base instructions.

    `ask` takes [(item id, prompt)] of one round and returns the model's texts
    in the same order (it does the requests, cached). Returns the evolved
    instructions that survived, in (round, lineage) order, and each round's counts.
    """
    current = {b.seed_id: b for b in base}
    order = [b.seed_id for b in base]
    evolved: list[Instruction] = []
    stats: list[RoundStats] = []
    for r in range(1, rounds + 1):
        st = RoundStats(round=r)
        jobs: list[tuple[str, str, Instruction]] = []  # (item id, method, parent)
        for lineage in order:
            parent = current[lineage]
            method = choose_method(seed, lineage, r)
            jobs.append((f"{lineage}.e{r}", method, parent))
        texts = ask([(item, evolution_prompt(method, parent.text)) for item, method, parent in jobs])
        for (item, method, parent), text in zip(jobs, texts):
            text = text.strip()
            st.attempted += 1
            st.by_method[method] = st.by_method.get(method, 0) + 1
            reason = elimination_reason(parent.text, text)
            if reason is not None:
                st.eliminated[reason] += 1
                continue
            child = Instruction(id=item, seed_id=parent.seed_id, text=text, concepts=parent.concepts, round=r,
                                method=method, parent=parent.id)
            current[parent.seed_id] = child
            evolved.append(child)
            st.kept += 1
            st.kept_by_method[method] = st.kept_by_method.get(method, 0) + 1
        st.by_method = dict(sorted(st.by_method.items()))
        st.kept_by_method = dict(sorted(st.kept_by_method.items()))
        stats.append(st)
    return evolved, stats
