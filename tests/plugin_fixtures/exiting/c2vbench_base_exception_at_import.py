"""Fixture plug-in that raises a BaseException subclass (not an Exception) at import."""


class PluginAbort(BaseException):
    pass


raise PluginAbort("this plug-in raises a BaseException when imported")
