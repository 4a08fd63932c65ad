@echo off
rem Run the test suite, then the style check. Same as the course's autograder.
cd /d "%~dp0"
python -m pytest %*
if errorlevel 1 exit /b 1
python -m pycodestyle --max-line-length 120 .
